// How the dataset store parses a contract's columns, and which it measures for drift. Kept
// apart from contract-checks.ts, so reading a dataset does not load CEL (the trainer's
// worker thread loads it only when it has to check the data itself).
import type { DataContract } from '../../contracts/index.js';
import type { ColumnSpec } from './credit-schema.js';

export function columnSpecs(contract: DataContract): ColumnSpec[] {
  return contract.columns.map((c) => ({
    name: c.name,
    type: c.type === 'timestamp' ? 'date' : c.type,
    feature: c.drift,
    ...(c.min !== null || c.max !== null ? { range: [c.min ?? -Infinity, c.max ?? Infinity] as [number, number] } : {}),
    ...(c.values ? { values: c.values } : {}),
    maxMissing: c.maxNullRate,
  }));
}
