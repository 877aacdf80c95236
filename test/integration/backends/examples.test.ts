// Every config in examples/ is what `mlops-agent` reads at start: it must validate, and
// open its backends, or be refused with the one clear reason listed here.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chooseBackends, openBackends } from '../../../src/backends/from-config.js';
import { loadConfig } from '../../../src/app/config.js';
import { silentLogger } from '../../../src/logger.js';

const examples = fileURLToPath(new URL('../../../examples/', import.meta.url));

/** Each example, the ports it chooses, and whether this build opens them (or the refusal it gives). */
const EXAMPLES = [
  {
    file: 'lab-only.yaml',
    chosen: { registry: 'local', analysis: 'local', deployer: 'local', trainer: 'local' },
    opens: true,
  },
  {
    file: 'command-trainer.yaml',
    chosen: { registry: 'local', analysis: 'local', deployer: 'local', trainer: 'command' },
    opens: true,
  },
  // Opening contacts none of them (here: Prometheus); the lab's deployer judges canaries with its templates.
  {
    file: 'lab-prometheus.yaml',
    chosen: { registry: 'local', analysis: 'prometheus', deployer: 'local', trainer: 'local' },
    opens: true,
  },
  {
    file: 'mlflow-lab.yaml',
    chosen: { registry: 'mlflow', analysis: 'local', deployer: 'local', trainer: 'local' },
    opens: true,
  },
  // The mix of issue 16: MLflow's versions, trained and served by the lab, canaries judged by Prometheus.
  {
    file: 'mlflow-prometheus-lab.yaml',
    chosen: { registry: 'mlflow', analysis: 'prometheus', deployer: 'local', trainer: 'local' },
    opens: true,
  },
  // Opening contacts none of them: MLflow, Prometheus and the cluster are first asked when a tool acts.
  {
    file: 'mlflow-prometheus-kserve.yaml',
    chosen: { registry: 'mlflow', analysis: 'prometheus', deployer: 'kserve', trainer: 'command' },
    opens: true,
  },
] as const;

describe('examples/', () => {
  let home: string;
  beforeEach(async () => {
    home = await mkdtemp(join(tmpdir(), 'examples-'));
  });
  afterEach(async () => rm(home, { recursive: true, force: true }));

  for (const example of EXAMPLES) {
    it(`${example.file} validates and ${example.opens === true ? 'opens its backends' : 'is refused with a clear reason'}`, async () => {
      const config = loadConfig({ file: join(examples, example.file), cwd: examples, env: { MLOPS_AGENT_HOME: home } });
      expect(chooseBackends(config.backends)).toEqual(example.chosen);
      const open = openBackends(config, { logger: silentLogger, env: {} });
      if (example.opens !== true) {
        await expect(open).rejects.toThrow(example.opens);
        return;
      }
      const opened = await open;
      await opened.close();
      expect(opened.chosen).toEqual(example.chosen);
    });
  }
});
