// The checkpoints of a file log, in a second append-only JSONL file beside it
// (`<audit file>.checkpoints`), fsync'd like the log.
import { open, type FileHandle } from 'node:fs/promises';
import { UpstreamError, UserError, describeError } from '../errors.js';
import { writeAll } from '../durable-file.js';
import { parseCheckpoint, serializeCheckpoint } from './checkpoint-record.js';
import { lineEndingAt, scanLines } from './line-scan.js';
import type { Checkpoint } from './types.js';

export function checkpointFileFor(auditFile: string): string {
  return `${auditFile}.checkpoints`;
}

export interface CheckpointFile {
  readonly path: string;
  /** The last checkpoint written, or null for none. */
  last(): Checkpoint | null;
  append(checkpoint: Checkpoint): Promise<void>;
  close(): Promise<void>;
}

function corrupt(path: string, problem: string): UserError {
  return new UserError(
    `audit checkpoints ${path}: ${problem}; keep the file as evidence and run \`mlops-agent audit verify\``,
    { code: 'audit_corrupt' },
  );
}

/**
 * Opens (creating as needed) a checkpoints file for appending. A torn last line (a crash
 * mid-write) is cut off: a checkpoint that was never whole was never relied on.
 */
export async function openCheckpointFile(path: string): Promise<CheckpointFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'a+', 0o600);
  } catch (err) {
    throw new UpstreamError('audit', `cannot open audit checkpoints ${path}: ${describeError(err)}`, {
      retryable: false,
      code: 'audit_failed',
      cause: err,
    });
  }
  let last: Checkpoint | null = null;
  try {
    let { size } = await handle.stat();
    if (size > 0) {
      const tail = Buffer.alloc(1);
      await handle.read(tail, 0, 1, size - 1);
      if (tail[0] !== 0x0a) {
        const whole = await lastNewlineBefore(handle, size);
        await handle.truncate(whole);
        await handle.sync();
        size = whole;
      }
    }
    const line = await lineEndingAt(handle, size);
    if (line !== null) {
      const parsed = parseCheckpoint(line);
      if ('problem' in parsed) throw corrupt(path, `the last line is ${parsed.problem}`);
      last = parsed.checkpoint;
    }
  } catch (err) {
    await handle.close().catch(() => undefined);
    throw err;
  }
  return {
    path,
    last: () => last,
    async append(checkpoint) {
      await writeAll(handle, Buffer.from(`${serializeCheckpoint(checkpoint)}\n`));
      await handle.sync();
      last = checkpoint;
    },
    close: () => handle.close(),
  };
}

async function lastNewlineBefore(handle: FileHandle, size: number): Promise<number> {
  let end = 0;
  await scanLines(handle, size, (line) => {
    if (line.terminated) end = line.end;
    return true;
  });
  return end;
}

export interface CheckpointList {
  checkpoints: Checkpoint[];
  /** Lines that are not checkpoints (an edit, or a torn write being read mid-way). */
  problems: { line: number; problem: string }[];
}

/** Every checkpoint in a file, in the order written; a missing file has none. */
export async function readCheckpointFile(path: string): Promise<CheckpointList> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], problems: [] };
    throw new UpstreamError('audit', `cannot read audit checkpoints ${path}: ${describeError(err)}`, {
      retryable: false,
      code: 'audit_failed',
      cause: err,
    });
  }
  const list: CheckpointList = { checkpoints: [], problems: [] };
  try {
    const { size } = await handle.stat();
    await scanLines(handle, size, (line) => {
      // A last line without its newline is a checkpoint being written, or torn by a crash.
      if (!line.terminated) return false;
      const parsed = parseCheckpoint(line.text);
      if ('checkpoint' in parsed) list.checkpoints.push(parsed.checkpoint);
      else list.problems.push({ line: line.number, problem: parsed.problem });
      return true;
    });
  } finally {
    await handle.close();
  }
  return list;
}
