// The `backends:` section: what each port defaults to, MLflow chosen by its own variables,
// and every bad choice refused at start with the key, the file and the line to fix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseBackends } from '../../../src/backends/from-config.js';
import { loadConfig } from '../../../src/app/config.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});
const withFile = (yaml: string) => {
  dir = mkdtempSync(join(tmpdir(), 'mlops-backends-'));
  writeFileSync(join(dir, 'mlops-agent.yaml'), yaml);
  return dir;
};
const load = (yaml: string, env: Record<string, string> = {}) => loadConfig({ env, cwd: withFile(yaml) });

describe('the backends section', () => {
  it('leaves every port to the local lab by default', () => {
    expect(chooseBackends(load('').backends)).toEqual({
      registry: 'local',
      analysis: 'local',
      deployer: 'local',
      trainer: 'local',
    });
  });

  it("picks MLflow for the registry when MLFLOW_TRACKING_URI is set and nothing else is chosen, with MLflow's own credential variables", () => {
    const config = load(
      'backends:\n  trainer: command\n  deployer: kserve\n  analysis: prometheus\n  prometheus: { url: "http://prom:9090", metrics: [{ name: errors, query: "up", successCondition: "result[0] <= 1" }] }\n  kserve: { inferenceServices: [{ model: credit-risk, environment: production, namespace: ml, storageUri: "s3://m/{{version}}" }] }\n  commandTrainer: { argv: [mlflow, run, ., -P, "model={model}"] }\n',
      {
        MLFLOW_TRACKING_URI: 'https://mlflow.internal:5000',
        MLFLOW_TRACKING_USERNAME: 'svc-agent',
        MLFLOW_TRACKING_PASSWORD: 'pw',
      },
    );
    expect(chooseBackends(config.backends).registry).toBe('mlflow');
    expect(config.backends.mlflow).toMatchObject({
      trackingUri: 'https://mlflow.internal:5000',
      username: 'svc-agent',
      password: 'pw',
    });
    expect(
      chooseBackends(
        load('backends:\n  registry: local\n', { MLFLOW_TRACKING_URI: 'https://mlflow.internal:5000' }).backends,
      ).registry,
    ).toBe('local');
  });

  it('reads a config with MLFLOW_TRACKING_URI in the environment and the lab for every other port, so commands that act on no registry still start', () => {
    expect(chooseBackends(load('', { MLFLOW_TRACKING_URI: 'https://mlflow.internal:5000' }).backends)).toEqual({
      registry: 'mlflow',
      analysis: 'local',
      deployer: 'local',
      trainer: 'local',
    });
  });

  it('names the file and line of a bad key', () => {
    const cwd = withFile('logLevel: info\nbackends:\n  registry: mlflow\n  trainer: sagemaker\n');
    const file = join(cwd, 'mlops-agent.yaml');
    let message = '';
    try {
      loadConfig({ env: {}, cwd });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain(
      `backends.trainer: Invalid enum value. Expected 'local' | 'command' | 'http', received 'sagemaker' (${file}:4)`,
    );
    const cwd2 = withFile('logLevel: info\nbackends:\n  registry: mlflow\n');
    expect(() => loadConfig({ env: {}, cwd: cwd2 })).toThrow(
      `backends.registry: is mlflow but no tracking server is set: set MLFLOW_TRACKING_URI or backends.mlflow.trackingUri (${join(cwd2, 'mlops-agent.yaml')}:3)`,
    );
  });

  it('refuses a trainer without its settings, an unknown argv placeholder, and half of basic auth', () => {
    expect(() => load('backends:\n  trainer: command\n')).toThrow(
      /backends\.trainer: is command but backends\.commandTrainer is not set: give at least commandTrainer\.argv/,
    );
    expect(() => load('backends:\n  trainer: http\n')).toThrow(
      /backends\.trainer: is http but backends\.httpTrainer is not set/,
    );
    expect(() => load('backends:\n  commandTrainer: { argv: [train, "--data={datset}"] }\n')).toThrow(
      /backends\.commandTrainer\.argv\.1: unknown placeholder \{datset\}; known: \{model\}, \{dataset\}/,
    );
    expect(() =>
      load('backends:\n  httpTrainer: { startUrl: "http://t/jobs", statusUrl: "http://t/jobs/status" }\n'),
    ).toThrow(/backends\.httpTrainer\.statusUrl: must contain \{jobId\}/);
    expect(() => load('', { MLFLOW_TRACKING_USERNAME: 'svc' })).toThrow(
      /backends\.mlflow\.password \(env MLFLOW_TRACKING_PASSWORD\): basic auth needs both username and password/,
    );
    expect(() => load('backends:\n  mlflow: { trackingUri: "not a url" }\n')).toThrow(
      /backends\.mlflow\.trackingUri \(env MLFLOW_TRACKING_URI\): a URL such as https:\/\/mlflow\.internal:5000/,
    );
  });
});
