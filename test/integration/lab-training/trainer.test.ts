import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateCreditRows } from '../../../src/backends/local/credit-generator.js';
import { writeDataset } from '../../../src/backends/local/dataset-store.js';
import { createLocalRegistry, type LocalRegistry } from '../../../src/backends/local/registry.js';
import { createLocalTrainer, jobIdForKey, type LocalTrainer } from '../../../src/backends/local/trainer.js';
import { createRandom } from '../../../src/backends/local/random.js';
import { labQuotes } from '../../../src/backends/local/lab-seed.js';
import { QUOTE_COLUMNS } from '../../../src/backends/local/quotes-generator.js';
import { createDataCheckStore } from '../../../src/backends/local/data-check-store.js';
import { createLocalDataQuality } from '../../../src/backends/local/data-quality.js';
import { runTrainingPipeline } from '../../../src/backends/local/training-pipeline.js';
import { loadContracts } from '../../../src/contracts/index.js';
import { defaultContractFiles } from '../../../src/paths.js';
import { manualClock } from '../../support/manual-clock.js';
import { describeTrainerContract } from '../../contract/trainer.contract.js';

const run = promisify(execFile);
const packageRoot = fileURLToPath(new URL('../../../', import.meta.url));
const gates = { minAuc: 0.82, maxCalibrationError: 0.05, maxP99LatencyMs: 50, maxParityGap: 0.05 };

async function lab() {
  const root = await mkdtemp(join(tmpdir(), 'lab-trainer-'));
  const registry = createLocalRegistry({ dir: join(root, 'registry'), clock: manualClock() });
  const contracts = await loadContracts(defaultContractFiles);
  const dataChecks = createDataCheckStore(join(root, 'data-checks'));
  const trainer = createLocalTrainer({
    registry,
    datasetsDir: join(root, 'datasets'),
    jobsDir: join(root, 'jobs'),
    clock: manualClock(),
    gates,
    contracts,
    dataChecks,
  });
  const dataQuality = createLocalDataQuality({
    datasetsDir: join(root, 'datasets'),
    checksDir: join(root, 'data-checks'),
    contracts,
    clock: manualClock(),
  });
  return {
    root,
    registry,
    trainer,
    dataQuality,
    /** Another trainer over the same jobs, as a second process would have. */
    another: () =>
      createLocalTrainer({
        registry,
        datasetsDir: join(root, 'datasets'),
        jobsDir: join(root, 'jobs'),
        clock: manualClock(),
        gates,
        contracts,
        dataChecks,
      }),
    writeDataset: async (name: string, rows: Parameters<typeof writeDataset>[2], columns?: string[]) => {
      await writeDataset(join(root, 'datasets'), name, rows, columns);
    },
    cleanup: async () => {
      await trainer.close();
      await rm(root, { recursive: true, force: true });
    },
  };
}

describeTrainerContract('local lab', lab);

describe('local trainer', () => {
  let env: Awaited<ReturnType<typeof lab>>;
  let trainer: LocalTrainer;
  let registry: LocalRegistry;
  beforeEach(async () => {
    env = await lab();
    ({ trainer, registry } = env);
  });
  afterEach(() => env.cleanup());

  it('trains a model on 4000 rows that passes every gate, with its lineage registered', async () => {
    await env.writeDataset('credit-4k', generateCreditRows({ seed: 5, rows: 4000, startDate: '2025-01-01', days: 90 }));
    const job = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-4k',
      params: { epochs: 15, seed: 7 },
      searchTrials: 3,
      requestedBy: 'alice',
    });
    const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
    expect(done).toMatchObject({ status: 'succeeded', progress: 1, version: '1', error: null });

    const version = (await registry.getVersion('credit-risk', '1'))!;
    const bytes = await readFile(join(env.root, 'datasets', 'credit-4k.csv'));
    expect(version.dataVersion).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(version).toMatchObject({
      dataset: 'credit-4k',
      trainingJobId: job.jobId,
      createdBy: 'alice',
      promotable: true,
    });
    expect(version.metrics.auc).toBeGreaterThanOrEqual(0.82);
    expect(version.metrics.calibration_error).toBeLessThanOrEqual(0.05);
    expect(version.metrics.parity_gap).toBeLessThanOrEqual(0.05);
    expect(version.metrics.p99_latency_ms).toBeLessThan(50);
    expect(version.metrics).toMatchObject({ train_rows: 2200, validation_rows: 600, test_rows: 1200 });
    expect(version.qualityGates.map((g) => [g.gate, g.passed])).toEqual([
      ['auc', true],
      ['calibration_error', true],
      ['p99_latency_ms', true],
      ['parity_gap', true],
    ]);
    const head = await run('git', ['rev-parse', 'HEAD'], { cwd: packageRoot }).then(
      (r) => r.stdout.trim(),
      () => null,
    );
    expect(version.codeVersion).toBe(head);

    const experiment = (await trainer.getExperiment(job.jobId))!;
    expect(experiment.trials).toHaveLength(4);
    expect(experiment.trials[0]?.params).toMatchObject({ epochs: 15, seed: 7 });
    const best = Math.max(...experiment.trials.map((t) => t.validationAuc));
    expect(version.metrics.validation_auc).toBe(best);
    expect(version.params).toEqual(experiment.bestParams);
    expect(experiment.dataVersion).toBe(version.dataVersion);
    expect(experiment.durationMs).toBeGreaterThan(0);
    const onDisk = JSON.parse(await readFile(join(env.root, 'jobs', `${job.jobId}.json`), 'utf8'));
    expect(onDisk).toMatchObject({ status: 'succeeded', progress: 1, version: '1' });

    const move = await registry.setAlias('credit-risk', 'champion', '1', 'alice', 'first release');
    expect(move.to).toBe('1');
  });

  it('trains the trading signal on quotes, judged by its Sharpe-style gate, so trigger_retrain works for both kinds', async () => {
    await env.writeDataset('quotes-recent', labQuotes(3, 120), QUOTE_COLUMNS);
    const job = await trainer.start({
      model: 'fx-signal',
      dataset: 'quotes-recent',
      params: { seed: 3 },
      searchTrials: 2,
      requestedBy: 'alice',
    });
    const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
    expect(done).toMatchObject({ status: 'succeeded', version: '1', error: null });
    const version = (await registry.getVersion('fx-signal', '1'))!;
    expect(version).toMatchObject({ dataset: 'quotes-recent', trainingJobId: job.jobId, promotable: true });
    expect(version.qualityGates.map((g) => [g.gate, g.passed])).toEqual([['sharpe_per_trade', true]]);
    expect(version.metrics.sharpe_per_trade).toBeGreaterThanOrEqual(0.05);
    expect(version.metrics.hit_rate).toBeGreaterThan(0.5);

    // The signal's name never takes a credit model, nor the other way round.
    await env.writeDataset('credit-4k', generateCreditRows({ seed: 5, rows: 4000, startDate: '2025-01-01', days: 90 }));
    const request = { dataset: 'credit-4k', params: { seed: 3 }, requestedBy: 'alice' };
    await expect(trainer.start({ model: 'fx-signal', ...request })).rejects.toThrow(
      /refuses to train fx-signal on "credit-4k" \(data contract credit\): its versions were trained on quotes data/,
    );
    expect(await registry.listVersions('fx-signal')).toHaveLength(1);
  });

  it('registers a model trained on noise as not promotable, and champion refuses it', async () => {
    const rows = generateCreditRows({ seed: 8, rows: 3000, startDate: '2025-01-01', days: 30 });
    // Labels shuffled across rows: no feature carries any signal any more.
    const random = createRandom(99);
    const labels = rows.map((r) => r.default);
    for (let i = labels.length - 1; i > 0; i--) {
      const j = Math.floor(random.next() * (i + 1));
      [labels[i], labels[j]] = [labels[j]!, labels[i]!];
    }
    await env.writeDataset(
      'credit-noise',
      rows.map((r, i) => ({ ...r, default: labels[i]! })),
    );
    const job = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-noise',
      params: { epochs: 5 },
      requestedBy: 'alice',
    });
    const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
    expect(done.status).toBe('succeeded');
    const version = (await registry.getVersion('credit-risk', done.version!))!;
    expect(version.promotable).toBe(false);
    expect(version.metrics.auc).toBeLessThan(0.6);
    expect(version.qualityGates.find((g) => g.gate === 'auc')).toMatchObject({ passed: false, threshold: 0.82 });
    await expect(registry.setAlias('credit-risk', 'champion', version.version, 'alice', 'ship it')).rejects.toThrow(
      /not promotable.*auc/,
    );
  });

  it('persists progress to the job file while the job runs', async () => {
    await env.writeDataset('credit-4k', generateCreditRows({ seed: 5, rows: 4000, startDate: '2025-01-01', days: 90 }));
    const job = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-4k',
      params: { epochs: 150 },
      searchTrials: 2,
      requestedBy: 'alice',
    });
    const file = join(env.root, 'jobs', `${job.jobId}.json`);
    const seen = new Set<number>();
    for (let status = 'running'; status === 'running' || status === 'queued';) {
      const record = JSON.parse(await readFile(file, 'utf8')) as { status: string; progress: number };
      seen.add(record.progress);
      status = record.status;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const between = [...seen].filter((p) => p > 0 && p < 1);
    expect(between.length).toBeGreaterThan(0);
    expect(seen.has(1)).toBe(true);
    // Temp files of the write-then-rename never outlive a write.
    expect((await readdir(join(env.root, 'jobs'))).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses data that breaks a hard contract rule, naming the rule and where it is written, and registers nothing', async () => {
    // 9% of incomes missing: the trainer would otherwise fill them with the median and train on.
    await env.writeDataset(
      'credit-gaps',
      generateCreditRows({ seed: 5, rows: 2000, startDate: '2025-01-01', days: 90 }).map((r, i) =>
        i % 11 === 0 ? { ...r, income: null } : r,
      ),
    );
    const job = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-gaps',
      params: { epochs: 3 },
      requestedBy: 'alice',
    });
    const done = await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
    expect(done).toMatchObject({ status: 'failed', version: null });
    expect(done.error).toMatch(
      /^dataset "credit-gaps" breaks hard rule "income\.nulls" of data contract "credit" \(.*contracts\/credit\.yaml:\d+\): 187 of 2000 rows have no "income" \(9\.35% > the 2\.00% allowed\)/,
    );
    expect(done.error).toContain('The trainer does not train on data that breaks a hard rule');
    expect(await registry.listVersions('credit-risk')).toEqual([]);
  });

  it('trains over soft rules and allowed gaps, and refuses a dataset no contract covers before starting', async () => {
    const rows = generateCreditRows({ seed: 5, rows: 2000, startDate: '2025-01-01', days: 90 });
    // Breaks the soft young-history rule once; 1% of incomes empty is within the 2% allowed.
    await env.writeDataset(
      'credit-soft',
      rows.map((r, i) =>
        i === 3 ? { ...r, age_band: '18-25', credit_history_months: 200 } : i % 100 === 0 ? { ...r, income: null } : r,
      ),
    );
    const job = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-soft',
      params: { epochs: 3 },
      requestedBy: 'alice',
    });
    expect((await trainer.waitFor(job.jobId, { timeoutMs: 50_000 })).status).toBe('succeeded');
    await env.writeDataset('loans', rows);
    await expect(
      trainer.start({ model: 'credit-risk', dataset: 'loans', params: {}, requestedBy: 'alice' }),
    ).rejects.toMatchObject({
      code: 'data_invalid',
      message: expect.stringContaining('no data contract covers dataset "loans"'),
    });
  });

  it('refuses at start data whose stored report failed, without starting a job', async () => {
    await env.writeDataset(
      'credit-kusd',
      generateCreditRows({ seed: 5, rows: 2000, startDate: '2025-01-01', days: 90, incomeUnit: 'kusd' }),
    );
    expect((await env.dataQuality.check('credit-kusd')).passed).toBe(false);
    await expect(
      trainer.start({ model: 'credit-risk', dataset: 'credit-kusd', params: { epochs: 3 }, requestedBy: 'alice' }),
    ).rejects.toMatchObject({
      code: 'data_invalid',
      message: expect.stringMatching(
        /^dataset "credit-kusd" breaks hard rule "income\.range" of data contract "credit" .*also broken: loan-within-20x-income/,
      ),
    });
    expect(await readdir(join(env.root, 'jobs')).catch(() => [])).toEqual([]);
  });

  it('checks in the worker any content other than the one a stored report passed', async () => {
    await env.writeDataset(
      'credit-kusd',
      generateCreditRows({ seed: 5, rows: 2000, startDate: '2025-01-01', days: 90, incomeUnit: 'kusd' }),
    );
    const contract = (await loadContracts(defaultContractFiles)).forDataset('credit-kusd')!;
    const input = {
      datasetsDir: join(env.root, 'datasets'),
      dataset: 'credit-kusd',
      params: { epochs: 2 },
      searchTrials: 0,
      gates,
      contract,
      nowMs: Date.now(),
    };
    // A report passed other content (the file changed after the trainer looked): checked again, refused.
    await expect(runTrainingPipeline({ ...input, checkedVersion: 'f'.repeat(64) }, () => undefined)).rejects.toThrow(
      /breaks hard rule "income\.range"/,
    );
    await expect(runTrainingPipeline({ ...input, checkedVersion: null }, () => undefined)).rejects.toThrow(
      /breaks hard rule "income\.range"/,
    );
  });

  it("records the data-quality report on exactly the content it trained on in the version's lineage", async () => {
    await env.writeDataset(
      'credit-checked',
      generateCreditRows({ seed: 5, rows: 2000, startDate: '2025-01-01', days: 90 }),
    );
    const report = await env.dataQuality.check('credit-checked');
    const first = await trainer.waitFor(
      (
        await trainer.start({
          model: 'credit-risk',
          dataset: 'credit-checked',
          params: { epochs: 3 },
          requestedBy: 'alice',
        })
      ).jobId,
      { timeoutMs: 50_000 },
    );
    expect(await registry.getVersion('credit-risk', first.version!)).toMatchObject({
      dataVersion: report.dataVersion,
      dataQualityReport: report.reportHash,
    });
    expect((await trainer.getExperiment(first.jobId))!).toMatchObject({
      dataQualityReport: report.reportHash,
      contract: { name: 'credit' },
    });
    // New content, never checked: the lineage says so.
    await env.writeDataset(
      'credit-checked',
      generateCreditRows({ seed: 6, rows: 2000, startDate: '2025-01-01', days: 90 }),
    );
    const second = await trainer.waitFor(
      (
        await trainer.start({
          model: 'credit-risk',
          dataset: 'credit-checked',
          params: { epochs: 3, seed: 1 },
          requestedBy: 'alice',
        })
      ).jobId,
      { timeoutMs: 50_000 },
    );
    expect(await registry.getVersion('credit-risk', second.version!)).toMatchObject({ dataQualityReport: null });
  });

  /** The record a process killed while it ran `jobId` leaves behind: running, owned by a pid that no longer exists. */
  async function orphan(jobId: string, extra: Record<string, unknown> = {}): Promise<void> {
    // As start() left it: the model created, then the job's record.
    await registry.createModel('credit-risk', 'probability of default');
    await mkdir(join(env.root, 'jobs'), { recursive: true });
    const record = {
      schemaVersion: 1,
      jobId,
      model: 'credit-risk',
      dataset: 'credit-3k',
      status: 'running',
      progress: 0.4,
      startedAt: '2026-01-01T00:00:00.000Z',
      finishedAt: null,
      version: null,
      error: null,
      params: { epochs: 8 },
      searchTrials: 0,
      requestedBy: 'alice',
      idempotencyKey: 'run_1:call_2',
      ownerPid: 99_999_999,
      dataVersion: null,
      codeVersion: null,
      trials: [],
      bestParams: null,
      metrics: null,
      qualityGates: null,
      durationMs: null,
      ...extra,
    };
    await writeFile(join(env.root, 'jobs', `${jobId}.json`), JSON.stringify(record));
  }

  it('trains again, under its id and once, a job whose process died while it ran', async () => {
    await env.writeDataset('credit-3k', generateCreditRows({ seed: 3, rows: 3000, startDate: '2025-01-01', days: 60 }));
    const jobId = jobIdForKey('run_1:call_2');
    await orphan(jobId);
    // Two trainers over the same jobs look at once: one takes it over, the other sees it running.
    const other = env.another();
    try {
      expect(await trainer.lookup('run_1:call_2')).toMatchObject({
        state: 'started',
        work: { jobId, status: 'running' },
      });
      expect((await other.get(jobId))?.status).toBe('running');
      const done = await trainer.waitFor(jobId, { timeoutMs: 50_000 });
      expect(done, JSON.stringify(done)).toMatchObject({ jobId, status: 'succeeded', version: '1' });
      expect(await trainer.lookup('run_1:call_2')).toMatchObject({ state: 'ended', work: { jobId, version: '1' } });
      expect((await registry.listVersions('credit-risk')).map((v) => v.trainingJobId)).toEqual([jobId]);
      expect(JSON.parse(await readFile(join(env.root, 'jobs', `${jobId}.json`), 'utf8'))).toMatchObject({
        takeovers: 1,
        ownerPid: process.pid,
      });
    } finally {
      await other.close();
    }
  });

  it('records as succeeded, without training again, a job whose process died after it registered its version', async () => {
    await env.writeDataset('credit-3k', generateCreditRows({ seed: 3, rows: 3000, startDate: '2025-01-01', days: 60 }));
    const first = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-3k',
      params: { epochs: 8 },
      requestedBy: 'alice',
      idempotencyKey: 'run_1:call_2',
    });
    await trainer.waitFor(first.jobId, { timeoutMs: 50_000 });
    // As if the process died between registering the version and writing the job's end.
    await orphan(first.jobId);
    const again = env.another();
    try {
      expect(await again.get(first.jobId)).toMatchObject({ status: 'succeeded', version: '1' });
      expect(await registry.listVersions('credit-risk')).toHaveLength(1);
    } finally {
      await again.close();
    }
  });

  it('keeps a keyed job under the id its key gives, in one record with the key: no index written after it', async () => {
    await env.writeDataset('credit-3k', generateCreditRows({ seed: 3, rows: 3000, startDate: '2025-01-01', days: 60 }));
    expect(await trainer.lookup('run_9:call_1')).toEqual({ state: 'not_started' });
    const job = await trainer.start({
      model: 'credit-risk',
      dataset: 'credit-3k',
      params: { epochs: 8 },
      requestedBy: 'alice',
      idempotencyKey: 'run_9:call_1',
    });
    expect(job.jobId).toBe(jobIdForKey('run_9:call_1'));
    expect(JSON.parse(await readFile(join(env.root, 'jobs', `${job.jobId}.json`), 'utf8'))).toMatchObject({
      idempotencyKey: 'run_9:call_1',
    });
    expect(await readdir(join(env.root, 'jobs'))).not.toContain('idempotency');
    expect((await trainer.lookup('run_9:call_1')).state).toMatch(/^(started|ended)$/);
    await trainer.waitFor(job.jobId, { timeoutMs: 50_000 });
  });

  it('still finds a job that an older build indexed by key in a separate file', async () => {
    await orphan('job-abc-0000beef', {
      status: 'succeeded',
      version: '3',
      idempotencyKey: 'run_old:call_1',
      ownerPid: process.pid,
    });
    await mkdir(join(env.root, 'jobs', 'idempotency'), { recursive: true });
    await writeFile(
      join(env.root, 'jobs', 'idempotency', `${createHash('sha256').update('run_old:call_1').digest('hex')}.txt`),
      'job-abc-0000beef',
    );
    expect(await trainer.lookup('run_old:call_1')).toMatchObject({
      state: 'ended',
      work: { jobId: 'job-abc-0000beef', version: '3' },
    });
  });
});

describe('local trainer from compiled JavaScript', () => {
  let out: string;
  afterEach(() => rm(out, { recursive: true, force: true }));

  it('runs the worker from train-worker.js when the package is built', async () => {
    out = await mkdtemp(join(tmpdir(), 'lab-dist-'));
    // Transpile the sources file by file, as tsc's emit would, without touching dist/.
    const sources = ['src', 'tools'];
    for (const top of sources) {
      for (const entry of await readdir(join(packageRoot, top), { recursive: true })) {
        if (!entry.endsWith('.ts')) continue;
        const from = join(packageRoot, top, entry);
        const js = ts.transpileModule(await readFile(from, 'utf8'), {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
          fileName: from,
        }).outputText;
        const to = join(out, top, entry.replace(/\.ts$/, '.js'));
        await mkdir(dirname(to), { recursive: true });
        await writeFile(to, js);
      }
    }
    await writeFile(join(out, 'package.json'), JSON.stringify({ name: 'mlops-agent', type: 'module' }));
    await symlink(join(packageRoot, 'node_modules'), join(out, 'node_modules'));
    const script = `
      import { generateCreditRows } from './src/backends/local/credit-generator.js';
      import { writeDataset } from './src/backends/local/dataset-store.js';
      import { createLocalRegistry } from './src/backends/local/registry.js';
      import { createLocalTrainer } from './src/backends/local/trainer.js';
      import { createDataCheckStore } from './src/backends/local/data-check-store.js';
      import { loadContracts } from './src/contracts/index.js';
      const clock = { now: () => Date.now() };
      const registry = createLocalRegistry({ dir: 'lab/registry', clock });
      const contracts = await loadContracts(${JSON.stringify(defaultContractFiles)});
      const trainer = createLocalTrainer({ registry, datasetsDir: 'lab/datasets', jobsDir: 'lab/jobs', clock, gates: ${JSON.stringify(gates)}, contracts, dataChecks: createDataCheckStore('lab/data-checks') });
      await writeDataset('lab/datasets', 'credit-d', generateCreditRows({ seed: 1, rows: 1000, startDate: '2025-01-01', days: 10 }));
      const job = await trainer.start({ model: 'm', dataset: 'credit-d', params: { epochs: 3 }, requestedBy: 'dist' });
      console.log(JSON.stringify(await trainer.waitFor(job.jobId, { timeoutMs: 30000 })));
    `;
    await writeFile(join(out, 'run.mjs'), script);
    const { stdout } = await run(process.execPath, ['run.mjs'], { cwd: out });
    expect(JSON.parse(stdout)).toMatchObject({ status: 'succeeded', version: '1', error: null });
    expect(relative(out, join(out, 'src/backends/local/train-worker.js'))).toBe('src/backends/local/train-worker.js');
    expect((await readdir(join(out, 'src/backends/local'))).some((f) => f.endsWith('.ts'))).toBe(false);
  });
});
