// Reading and writing checkpoint records: one JSON object a line, in a file or a table row.
import { hostname } from 'node:os';
import { z } from 'zod';
import { checkpointPayload, type CheckpointSigner } from './signing.js';
import { CHECKPOINT_SCHEMA_VERSION, type Checkpoint } from './types.js';

const HEX64 = /^[0-9a-f]{64}$/;

const checkpointSchema = z
  .object({
    schemaVersion: z.literal(CHECKPOINT_SCHEMA_VERSION),
    kind: z.literal('audit.checkpoint'),
    store: z.enum(['file', 'postgres']),
    seq: z.number().int().min(1),
    hash: z.string().regex(HEX64, 'must be 64 lowercase hex digits'),
    position: z.number().int().min(0).nullable(),
    time: z.string().refine((t) => !Number.isNaN(Date.parse(t)), 'must be an ISO 8601 time'),
    reason: z.enum(['open', 'periodic', 'shutdown', 'requested']),
    writer: z.string(),
    keyId: z
      .string()
      .regex(/^[0-9a-f]{16}$/, 'must be 16 lowercase hex digits')
      .nullable(),
    signature: z.string().min(1).nullable(),
  })
  .strict();

/** A checkpoint, or a sentence saying why the text is not one. */
export function parseCheckpoint(text: string): { checkpoint: Checkpoint } | { problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { problem: `not valid JSON (${(err as Error).message})` };
  }
  const parsed = checkpointSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { problem: `not a checkpoint record: ${issue.path.join('.') || '(record)'} ${issue.message}` };
  }
  return { checkpoint: parsed.data };
}

export function serializeCheckpoint(checkpoint: Checkpoint): string {
  return JSON.stringify(checkpoint);
}

/** This process, as checkpoints name their writer. */
export const WRITER = `${hostname()}:${process.pid}`;

export function makeCheckpoint(
  fields: Pick<Checkpoint, 'store' | 'seq' | 'hash' | 'position' | 'time' | 'reason'>,
  signer: CheckpointSigner | null,
): Checkpoint {
  const unsigned = {
    schemaVersion: CHECKPOINT_SCHEMA_VERSION,
    kind: 'audit.checkpoint',
    ...fields,
    writer: WRITER,
    keyId: signer?.keyId ?? null,
  } as const;
  return { ...unsigned, signature: signer ? signer.sign(checkpointPayload(unsigned)) : null };
}

/** How a checkpoint is named in messages: its place in the list (or "the last"), reason, key, time, writer and seq. */
export function describeCheckpoint(checkpoint: Checkpoint, index?: number): string {
  const name = index === undefined ? 'the last checkpoint' : `checkpoint #${index + 1}`;
  return `${name} (${checkpoint.reason}, ${checkpoint.signature ? `signed by key ${checkpoint.keyId}` : 'unsigned'}, ${checkpoint.time}, by ${checkpoint.writer}) at seq ${checkpoint.seq}`;
}
