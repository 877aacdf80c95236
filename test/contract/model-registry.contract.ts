// The behaviour every ModelRegistry adapter (the local lab, MLflow) must show. An adapter's
// test file calls describeModelRegistryContract with a factory for a fresh, empty registry.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AliasMove, ModelRegistry, ModelVersion, ParamValue, QualityGateResult } from '../../tools/ports.js';
import type { ModelArtifact } from '../../src/backends/local/model-artifact.js';

/** The registry under test: the read port plus the writes the trainer and deployer use. */
export interface ContractRegistry extends ModelRegistry {
  createModel(name: string, description: string): Promise<void>;
  registerVersion(input: {
    model: string;
    dataset: string;
    dataVersion: string;
    params: Record<string, ParamValue>;
    metrics: Record<string, number>;
    codeVersion: string | null;
    trainingJobId: string | null;
    createdBy: string;
    qualityGates: QualityGateResult[];
    artifact: ModelArtifact;
  }): Promise<ModelVersion>;
  setAlias(model: string, alias: string, version: string | null, by: string, reason: string): Promise<AliasMove>;
  loadArtifact(model: string, version: string): Promise<ModelArtifact>;
}

export interface RegistryHarness {
  registry: ContractRegistry;
  cleanup(): Promise<void>;
}

export const contractArtifact: ModelArtifact = {
  kind: 'logistic_regression',
  schemaVersion: 1,
  numericFeatures: ['income'],
  categoricalFeatures: [{ name: 'age_band', levels: ['18-25', '26-35'] }],
  imputation: [50_000],
  mean: [50_000],
  std: [20_000],
  weights: [-0.8, 0.3, -0.1],
  bias: -1.4,
};

function gates(aucValue: number): QualityGateResult[] {
  return [
    { gate: 'auc', value: aucValue, threshold: 0.82, direction: 'min', passed: aucValue >= 0.82 },
    { gate: 'parity_gap', value: 0.01, threshold: 0.05, direction: 'max', passed: true },
  ];
}

export function versionInput(
  model: string,
  aucValue = 0.86,
  extra: { createdBy?: string; trainingJobId?: string } = {},
) {
  return {
    model,
    dataset: 'credit-train',
    dataVersion: 'a'.repeat(64),
    params: { learningRate: 0.05, epochs: 20 },
    metrics: { auc: aucValue, calibration_error: 0.02 },
    codeVersion: null,
    trainingJobId: extra.trainingJobId ?? 'job-contract',
    createdBy: extra.createdBy ?? 'alice',
    qualityGates: gates(aucValue),
    artifact: contractArtifact,
  };
}

export function describeModelRegistryContract(adapter: string, create: () => Promise<RegistryHarness>): void {
  describe(`ModelRegistry contract: ${adapter}`, () => {
    let harness: RegistryHarness;
    let registry: ContractRegistry;
    beforeEach(async () => {
      harness = await create();
      registry = harness.registry;
    });
    afterEach(async () => harness.cleanup());

    it('creates a model once and keeps the first description', async () => {
      await registry.createModel('credit-risk', 'Probability of default');
      await registry.createModel('credit-risk', 'another description');
      expect(await registry.listModels()).toEqual([
        {
          name: 'credit-risk',
          description: 'Probability of default',
          latestVersion: null,
          aliases: {},
          versionCount: 0,
        },
      ]);
    });

    it('numbers versions 1, 2, ... and keeps their lineage', async () => {
      await registry.createModel('credit-risk', 'd');
      const first = await registry.registerVersion(versionInput('credit-risk', 0.86, { trainingJobId: 'job-1' }));
      const second = await registry.registerVersion(versionInput('credit-risk', 0.87, { createdBy: 'bob' }));
      expect([first.version, second.version]).toEqual(['1', '2']);
      expect(first).toMatchObject({
        model: 'credit-risk',
        dataset: 'credit-train',
        dataVersion: 'a'.repeat(64),
        trainingJobId: 'job-1',
        createdBy: 'alice',
        promotable: true,
        aliases: [],
      });
      expect(first.params).toEqual({ learningRate: 0.05, epochs: 20 });
      expect(Number.isNaN(Date.parse(first.createdAt))).toBe(false);
      expect((await registry.listVersions('credit-risk')).map((v) => v.version)).toEqual(['1', '2']);
      expect(await registry.getVersion('credit-risk', '2')).toEqual(second);
      expect(await registry.loadArtifact('credit-risk', '1')).toEqual(contractArtifact);
      const [summary] = await registry.listModels();
      expect(summary).toMatchObject({ latestVersion: '2', versionCount: 2 });
    });

    it('compares versions by their recorded metrics', async () => {
      await registry.createModel('credit-risk', 'd');
      await registry.registerVersion(versionInput('credit-risk', 0.84));
      await registry.registerVersion(versionInput('credit-risk', 0.88));
      const [a, b] = await Promise.all([
        registry.getVersion('credit-risk', '1'),
        registry.getVersion('credit-risk', '2'),
      ]);
      expect(b!.metrics.auc! - a!.metrics.auc!).toBeCloseTo(0.04, 10);
    });

    it('answers undefined for unknown models and versions, and refuses to list an unknown model', async () => {
      expect(await registry.getVersion('nope', '1')).toBeUndefined();
      expect(await registry.resolveAlias('nope', 'champion')).toBeUndefined();
      await expect(registry.listVersions('nope')).rejects.toMatchObject({ code: 'not_found' });
      await registry.createModel('credit-risk', 'd');
      expect(await registry.getVersion('credit-risk', '7')).toBeUndefined();
      await expect(registry.registerVersion(versionInput('unregistered'))).rejects.toMatchObject({ code: 'not_found' });
    });

    it('marks a version that failed a gate as not promotable and refuses to make it champion', async () => {
      await registry.createModel('credit-risk', 'd');
      const weak = await registry.registerVersion(versionInput('credit-risk', 0.7));
      expect(weak.promotable).toBe(false);
      await expect(registry.setAlias('credit-risk', 'champion', weak.version, 'alice', 'try')).rejects.toThrow(
        /not promotable.*auc/,
      );
      expect(await registry.aliasHistory('credit-risk')).toEqual([]);
      // Other aliases may point at it: a challenger is only evaluated, never served as champion.
      await registry.setAlias('credit-risk', 'challenger', weak.version, 'alice', 'shadow evaluation');
      expect((await registry.resolveAlias('credit-risk', 'challenger'))?.version).toBe('1');
    });

    it('moves aliases and keeps every move in the history', async () => {
      await registry.createModel('credit-risk', 'd');
      await registry.registerVersion(versionInput('credit-risk'));
      await registry.registerVersion(versionInput('credit-risk'));
      const m1 = await registry.setAlias('credit-risk', 'champion', '1', 'alice', 'first release');
      const m2 = await registry.setAlias('credit-risk', 'champion', '2', 'agent', 'canary passed');
      const m3 = await registry.setAlias('credit-risk', 'champion', null, 'bob', 'retire');
      expect(m1).toMatchObject({ from: null, to: '1', by: 'alice', reason: 'first release' });
      expect(m2).toMatchObject({ from: '1', to: '2' });
      expect(m3).toMatchObject({ from: '2', to: null });
      expect(await registry.aliasHistory('credit-risk')).toEqual([m1, m2, m3]);
      expect(await registry.resolveAlias('credit-risk', 'champion')).toBeUndefined();
      await registry.setAlias('credit-risk', 'champion', '2', 'agent', 'restore');
      expect((await registry.resolveAlias('credit-risk', 'champion'))?.aliases).toEqual(['champion']);
      expect((await registry.getVersion('credit-risk', '1'))?.aliases).toEqual([]);
      expect((await registry.listModels())[0]?.aliases).toEqual({ champion: '2' });
    });

    it('moves an alias where it already points without recording a second move (a retried promotion)', async () => {
      await registry.createModel('credit-risk', 'd');
      await registry.registerVersion(versionInput('credit-risk'));
      const first = await registry.setAlias('credit-risk', 'champion', '1', 'agent', 'canary passed');
      const again = await registry.setAlias('credit-risk', 'champion', '1', 'agent', 'canary passed (retried)');
      expect(again).toEqual(first);
      expect(await registry.aliasHistory('credit-risk')).toEqual([first]);
      const removeAbsent = await registry.setAlias('credit-risk', 'challenger', null, 'agent', 'nothing to remove');
      expect(removeAbsent).toMatchObject({ alias: 'challenger', from: null, to: null });
      expect(await registry.aliasHistory('credit-risk')).toEqual([first]);
      expect((await registry.resolveAlias('credit-risk', 'champion'))?.version).toBe('1');
    });

    it('refuses an alias to a version that does not exist', async () => {
      await registry.createModel('credit-risk', 'd');
      await expect(registry.setAlias('credit-risk', 'champion', '3', 'alice', 'x')).rejects.toMatchObject({
        code: 'not_found',
      });
    });

    it('gives 20 concurrent registrations 20 distinct versions', async () => {
      await registry.createModel('credit-risk', 'd');
      const versions = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          registry.registerVersion(versionInput('credit-risk', 0.85, { trainingJobId: `job-${i}` })),
        ),
      );
      expect(new Set(versions.map((v) => v.version)).size).toBe(20);
      const listed = await registry.listVersions('credit-risk');
      expect(listed.map((v) => v.version)).toEqual(Array.from({ length: 20 }, (_, i) => String(i + 1)));
      expect(new Set(listed.map((v) => v.trainingJobId)).size).toBe(20);
    });
  });
}
