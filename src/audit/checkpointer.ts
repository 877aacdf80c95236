// When a log writes its checkpoints: every `everyEntries` appends, every `everyMs` when
// there is something new, on request, and at shutdown. One at a time; optionally each is
// also POSTed to a witness URL, so a copy lives outside the machine that holds the log.
import type { Clock } from '../clock.js';
import { describeError } from '../errors.js';
import type { Logger } from '../logger.js';
import { makeCheckpoint } from './checkpoint-record.js';
import type { CheckpointSigner } from './signing.js';
import type { AuditStoreKind, Checkpoint, CheckpointReason } from './types.js';

export interface CheckpointOptions {
  /** Sign with this key; null writes unsigned position marks. */
  signer: CheckpointSigner | null;
  /** A checkpoint after this many appends by this process. */
  everyEntries: number;
  /** And at least this often while entries are appended (0: never on time). */
  everyMs: number;
  /** Where each checkpoint is also POSTed as JSON (best effort, logged on failure). */
  postUrl?: string;
}

export const DEFAULT_CHECKPOINTS: CheckpointOptions = { signer: null, everyEntries: 1000, everyMs: 60_000 };

/** The last durable entry this process knows. */
export interface Head {
  seq: number;
  hash: string;
  position: number | null;
}

export interface Checkpointer {
  /** Tells it `count` more entries are durable, up to `at`; may write a periodic checkpoint of `at`. */
  appended(count: number, at: Head): void;
  checkpoint(reason: CheckpointReason): Promise<Checkpoint | null>;
  start(): void;
  /** Stops the timer and waits for checkpoints and posts under way. */
  stop(): Promise<void>;
}

export function createCheckpointer(
  options: CheckpointOptions & {
    store: AuditStoreKind;
    /** The last durable entry (PostgreSQL reads the chain's head). */
    head: () => Head | null | Promise<Head | null>;
    write: (checkpoint: Checkpoint) => Promise<void>;
    /** Seq of the last checkpoint already stored (0: none). */
    lastSeq?: number;
    clock: Clock;
    logger: Logger;
  },
): Checkpointer {
  const { signer, everyEntries, everyMs, postUrl, store, head, write, clock, logger } = options;
  let sinceLast = 0;
  let lastSeq = options.lastSeq ?? 0;
  let chain: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | null = null;
  // One post at a time, in order, so the witness's copy is in the order they were written.
  let posts: Promise<void> = Promise.resolve();

  const post = (checkpoint: Checkpoint): void => {
    if (!postUrl) return;
    posts = posts.then(() =>
      fetch(postUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(checkpoint),
        signal: AbortSignal.timeout(10_000),
      })
        .then((res) => {
          if (!res.ok)
            logger.warn(
              { postUrl, status: res.status, seq: checkpoint.seq },
              'the checkpoint witness refused a checkpoint; it is kept locally',
            );
        })
        .catch((err: unknown) =>
          logger.warn(
            { postUrl, err: describeError(err), seq: checkpoint.seq },
            'posting a checkpoint to the witness failed; it is kept locally',
          ),
        ),
    );
  };

  const checkpoint = (reason: CheckpointReason, given?: Head): Promise<Checkpoint | null> => {
    const next = chain.then(async () => {
      const at = given ?? (await head());
      if (!at || at.seq === 0) return null;
      // Nothing new since the last one: a periodic checkpoint would say the same again.
      if (reason === 'periodic' && at.seq === lastSeq) return null;
      const record = makeCheckpoint(
        { store, seq: at.seq, hash: at.hash, position: at.position, time: new Date(clock.now()).toISOString(), reason },
        signer,
      );
      sinceLast = 0;
      await write(record);
      lastSeq = at.seq;
      post(record);
      return record;
    });
    chain = next.catch(() => undefined);
    return next;
  };

  const periodic = (at?: Head): void => {
    checkpoint('periodic', at).catch((err: unknown) =>
      logger.warn({ err }, 'writing a periodic audit checkpoint failed; the next one tries again'),
    );
  };

  return {
    appended(count, at) {
      sinceLast += count;
      if (sinceLast >= everyEntries) {
        sinceLast = 0;
        periodic(at);
      }
    },
    checkpoint: (reason) => checkpoint(reason),
    start() {
      if (timer || everyMs <= 0) return;
      timer = setInterval(() => periodic(), everyMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await chain;
      await posts;
    },
  };
}
