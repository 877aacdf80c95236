// `mlops-agent lab init`: seeds the persistent lab under the home with a fleet of two
// models, each with its datasets, a champion serving production and a candidate ready to
// canary, all really trained. Every step looks first and skips what is already there, so a
// second init changes nothing.
import { existsSync } from 'node:fs';
import { UserError } from '../../errors.js';
import type { ModelVersion } from '../../../tools/ports.js';
import { CHAMPION_ALIAS } from './registry.js';
import { generateCreditRows } from './credit-generator.js';
import { datasetFile, datasetVersion, writeDataset } from './dataset-store.js';
import type { LocalLab } from './index.js';
import { generateQuotes, QUOTE_COLUMNS } from './quotes-generator.js';

export const LAB_ENVIRONMENT = 'production';

/** The lab's fleet: what `lab up` serves and sends traffic to. */
export const LAB_MODELS = {
  credit: {
    model: 'credit-risk',
    reference: 'credit-train',
    recent: 'credit-recent',
    description: 'Probability of default for consumer credit applications',
  },
  trading: {
    model: 'fx-signal',
    reference: 'quotes-history',
    recent: 'quotes-recent',
    description: 'Whether the next FX mid moves up, from the top of the book (bid/ask quotes)',
  },
} as const;

/** How far the size imbalance leads the next mid in the lab's quotes (see quotes-generator.ts). */
export const LAB_IMBALANCE_EDGE = 15;
const CREDIT_ROWS = 6000;
const QUOTE_MINUTES = 240;

export type Print = (line: string) => void;

function daysAgo(days: number): string {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

/** Quotes of the last `minutes` before now, whole minutes, so the contract's freshness holds. */
export function labQuotes(seed: number, minutes: number, endMs = Date.now()) {
  const start = new Date(Math.floor(endMs / 60_000) * 60_000 - minutes * 60_000).toISOString();
  return generateQuotes({ seed, start, minutes, imbalanceEdge: LAB_IMBALANCE_EDGE });
}

async function ensureDataset(
  lab: LocalLab,
  name: string,
  make: () => Record<string, string | number | null>[],
  columns: string[] | undefined,
  print: Print,
): Promise<boolean> {
  if (existsSync(datasetFile(lab.dirs.datasets, name))) {
    print(
      `  dataset ${name}: already there (data version ${(await datasetVersion(lab.dirs.datasets, name)).slice(0, 12)})`,
    );
    return false;
  }
  const rows = make();
  const version = await writeDataset(lab.dirs.datasets, name, rows, columns);
  print(`  dataset ${name}: ${rows.length} rows written (data version ${version.slice(0, 12)})`);
  return true;
}

/** Trains the model on its reference data with the lab's trainer (quotes train the signal). */
async function trainOn(lab: LocalLab, which: keyof typeof LAB_MODELS, seed: number): Promise<string> {
  const { model, reference } = LAB_MODELS[which];
  const job = await lab.trainer.start({
    model,
    dataset: reference,
    params: { seed },
    searchTrials: 2,
    requestedBy: 'lab:init',
  });
  const done = await lab.trainer.waitFor(job.jobId, { timeoutMs: 5 * 60_000 });
  if (done.status !== 'succeeded' || !done.version)
    throw new Error(`training ${model} failed: ${done.error ?? done.status}`);
  return done.version;
}

function describe(metrics: Record<string, number>): string {
  const show = ['auc', 'sharpe_per_trade', 'hit_rate', 'calibration_error'].filter((k) => metrics[k] !== undefined);
  return show.map((k) => `${k} ${metrics[k]!.toFixed(3)}`).join(', ');
}

function describeGates(gates: ModelVersion['qualityGates']): string {
  return gates.map((g) => `${g.gate} ${g.passed ? 'passed' : 'failed'}`).join(', ') || 'none';
}

/** A champion serving production and a promotable candidate; nothing is trained when both exist. */
async function ensureModel(lab: LocalLab, which: keyof typeof LAB_MODELS, print: Print): Promise<boolean> {
  const { model, description } = LAB_MODELS[which];
  let changed = false;
  // Through the lab's model store: its own registry, or MLflow's when that is the registry.
  await lab.models.createModel(model, description);
  let versions = await lab.models.listVersions(model);
  while (versions.filter((v) => v.promotable).length < 2) {
    const version = await trainOn(lab, which, versions.length + 1);
    const v = (await lab.models.getVersion(model, version))!;
    print(`  ${model} v${v.version} trained: ${describe(v.metrics)}${v.promotable ? '' : ' (failed a quality gate)'}`);
    changed = true;
    // A gate on a metric this model never logs (MLflow's gates apply to every model unless
    // they name one) fails every training: say so now rather than after six of them.
    const unlogged = v.qualityGates.filter((g) => !g.passed && (typeof g.value !== 'number' || Number.isNaN(g.value)));
    if (unlogged.length > 0)
      throw new UserError(
        `${model} v${v.version} cannot pass the quality gate${unlogged.length > 1 ? 's' : ''} ${unlogged.map((g) => g.gate).join(', ')}: the lab's trainer logs no such metric for ${model} (it logs ${Object.keys(v.metrics).join(', ')}); with the MLflow registry, give each of backends.mlflow.qualityGates a \`model:\` naming the model it applies to (see examples/mlflow-prometheus-lab.yaml)`,
      );
    versions = await lab.models.listVersions(model);
    if (versions.length > 6)
      throw new Error(
        `${model}: six trainings gave fewer than two versions that pass the quality gates (${describeGates(versions.at(-1)!.qualityGates)})`,
      );
  }
  const split = lab.deployer.currentSplit(model, LAB_ENVIRONMENT);
  if (split) {
    print(`  ${model}: v${split.stableVersion} already serves ${LAB_ENVIRONMENT}`);
    return changed;
  }
  const [champion, candidate] = versions.filter((v) => v.promotable);
  await lab.models.setAlias(model, CHAMPION_ALIAS, champion!.version, 'lab:init', 'initial champion of the lab');
  await lab.deployer.serve(model, LAB_ENVIRONMENT, champion!.version, 'lab:init');
  print(
    `  ${model}: v${champion!.version} is champion and serves 100% of ${LAB_ENVIRONMENT}; v${candidate!.version} is a candidate to canary`,
  );
  return true;
}

/** Seeds what is missing; true when anything was written. */
export async function seedLab(lab: LocalLab, print: Print): Promise<boolean> {
  let changed = false;
  const credit = LAB_MODELS.credit;
  changed =
    (await ensureDataset(
      lab,
      credit.reference,
      () => generateCreditRows({ seed: 1, rows: CREDIT_ROWS, startDate: daysAgo(210), days: 180 }),
      undefined,
      print,
    )) || changed;
  changed =
    (await ensureDataset(
      lab,
      credit.recent,
      () => generateCreditRows({ seed: 2, rows: CREDIT_ROWS / 2, startDate: daysAgo(30), days: 28 }),
      undefined,
      print,
    )) || changed;
  const trading = LAB_MODELS.trading;
  changed =
    (await ensureDataset(lab, trading.reference, () => labQuotes(11, QUOTE_MINUTES), QUOTE_COLUMNS, print)) || changed;
  changed = (await ensureDataset(lab, trading.recent, () => labQuotes(12, 60), QUOTE_COLUMNS, print)) || changed;
  changed = (await ensureModel(lab, 'credit', print)) || changed;
  changed = (await ensureModel(lab, 'trading', print)) || changed;
  return changed;
}
