// The deployer's durable state: the current split and rollout per model/environment in
// one JSON file (temp file, fsync, rename, so a crash leaves the old or the new state,
// never half of one), and every move appended to a fsync'd JSONL history.
import { open, readFile, rename, truncate } from 'node:fs/promises';
import { mkdirPrivate, PRIVATE_FILE_MODE } from '../../durable-file.js';
import { join } from 'node:path';
import { describeError, UpstreamError } from '../../errors.js';
import type { Environment, Rollout, Shadow, ShadowAnalysis, TrafficSplit } from '../../../tools/ports.js';

export interface DeploymentEntry {
  split: TrafficSplit;
  rollout: Rollout | null;
  /** Epoch ms the current canary step began; its analysis reads stats since then. */
  stepStartedAt: number | null;
  /** The current step's traffic share has not passed an analysis yet. */
  stepPending: boolean;
  /** How many of the rollout's last analyses are passing ones from the watch of a held canary (absent: 0). */
  watchedAnalyses?: number;
}

/** What the deployer did under an idempotency key, kept in the same file as the split it changed. */
export type KeyRecord =
  | { kind: 'canary'; model: string; environment: Environment; version: string; targetPercent: number; at: string }
  | { kind: 'rollback'; model: string; environment: Environment; at: string; split: TrafficSplit }
  | { kind: 'shadow'; model: string; environment: Environment; version: string; mirrorPercent: number; at: string }
  | { kind: 'shadow_end'; model: string; environment: Environment; version: string; at: string; shadow: Shadow };

/** A shadow as stored: its analysis is computed from the serving stats while it runs, and kept once it ends. */
export type StoredShadow = Omit<Shadow, 'analysis'> & { finalAnalysis: ShadowAnalysis | null };

/** A rollout's stepping loop: who drives it, until when, under which key (absent in files of older builds). */
export interface SteppingRecord {
  ownerPid: number;
  /** The owning process's token (see process-identity.ts; absent in older files). */
  ownerToken?: string;
  /** Epoch ms: past it the rollout pauses as timed out. */
  deadline: number;
  requestedBy: string;
  idempotencyKey: string | null;
}

export interface DeploymentState {
  schemaVersion: 1;
  entries: Record<string, DeploymentEntry>;
  /** By idempotency key (absent in files of older builds). */
  keys?: Record<string, KeyRecord>;
  /** By model/environment entry key, for rollouts that were stepping (absent in files of older builds). */
  stepping?: Record<string, SteppingRecord>;
  /** By model/environment entry key: running shadows and the latest ended ones (absent in files of older builds). */
  shadows?: Record<string, StoredShadow[]>;
  /**
   * The last move, kept with the state it produced: a process that dies after saving the
   * state and before appending the move to the history leaves it here, and the next load
   * appends it (absent in files of older builds).
   */
  lastMove?: HistoryRecord;
}

export interface HistoryRecord {
  at: string;
  model: string;
  environment: string;
  action: 'serve' | 'canary_step' | 'analysis' | 'promote' | 'rollback' | 'pause' | 'shadow_start' | 'shadow_end';
  by: string;
  reason: string;
  split: TrafficSplit;
  analysis?: unknown;
}

export interface DeploymentStore {
  /** The state; a last move that never reached the history is appended to it first. */
  load(): Promise<DeploymentState>;
  save(state: DeploymentState): Promise<void>;
  /** Saves `state` with `record` as its last move, then appends `record` to the history. */
  commit(state: DeploymentState, record: HistoryRecord): Promise<void>;
  readHistory(): Promise<HistoryRecord[]>;
}

async function writeDurably(file: string, text: string, flag: 'w' | 'a'): Promise<void> {
  const handle = await open(file, flag, PRIVATE_FILE_MODE);
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

export function createDeploymentStore(dir: string): DeploymentStore {
  const stateFile = join(dir, 'deployments.json');
  const historyFile = join(dir, 'deployment-history.jsonl');
  // Saves and appends run one at a time, in call order, so an older state can never
  // be renamed over a newer one.
  let queue: Promise<unknown> = mkdirPrivate(dir);
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next.catch((err: unknown) => {
      throw new UpstreamError('deployment store', `writing under ${dir} failed`, { retryable: true, cause: err });
    });
  };

  function save(state: DeploymentState): Promise<void> {
    const text = `${JSON.stringify(state, null, 2)}\n`;
    return serial(async () => {
      const tmp = `${stateFile}.${process.pid}.tmp`;
      await writeDurably(tmp, text, 'w');
      await rename(tmp, stateFile);
      // The rename itself is durable only once the directory is synced.
      const d = await open(dir, 'r');
      try {
        await d.sync();
      } finally {
        await d.close();
      }
    });
  }

  function append(record: HistoryRecord): Promise<void> {
    const line = `${JSON.stringify(record)}\n`;
    return serial(() => writeDurably(historyFile, line, 'a'));
  }

  /**
   * A crash mid-append leaves a record without its newline; the next append would join it.
   * At load (before this process appends) the torn record is cut; if it was the last move,
   * load appends it again from the state file.
   */
  async function dropTornTail(): Promise<void> {
    const text = await readFile(historyFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    if (text === '' || text.endsWith('\n')) return;
    await serial(() => truncate(historyFile, Buffer.byteLength(text.slice(0, text.lastIndexOf('\n') + 1))));
  }

  async function readHistory(): Promise<HistoryRecord[]> {
    try {
      const text = await readFile(historyFile, 'utf8');
      // Only lines with their newline: the tail after the last one is a record another
      // process is appending right now (or one a crash tore), not yet part of the history.
      const complete = text.slice(0, text.lastIndexOf('\n') + 1).split('\n');
      return complete.flatMap((line, i) => {
        if (line.trim() === '') return [];
        try {
          return [JSON.parse(line) as HistoryRecord];
        } catch (err) {
          throw new UpstreamError(
            'deployment store',
            `${historyFile}:${i + 1} is not a JSON record (${describeError(err)}): the deployment history was edited or damaged`,
            { retryable: false, cause: err },
          );
        }
      });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  return {
    async load() {
      await queue;
      let text: string;
      try {
        text = await readFile(stateFile, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schemaVersion: 1, entries: {} };
        throw err;
      }
      const state = JSON.parse(text) as DeploymentState;
      if (state.schemaVersion !== 1) {
        throw new UpstreamError(
          'deployment store',
          `${stateFile} has schemaVersion ${String(state.schemaVersion)}; this build reads 1`,
          { retryable: false },
        );
      }
      await dropTornTail();
      const last = await readHistory().then((h) => h.at(-1));
      if (state.lastMove && JSON.stringify(last) !== JSON.stringify(state.lastMove)) await append(state.lastMove);
      return state;
    },
    save,
    async commit(state, record) {
      state.lastMove = record;
      await save(state);
      await append(record);
    },
    async readHistory() {
      await queue;
      return readHistory();
    },
  };
}
