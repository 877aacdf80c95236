// Data-quality reports of the lab, stored per data version (the content's sha256):
//   <dir>/<dataVersion>/<contract hash, 16>-<drift key, 16>.json   { schemaVersion, driftKey, report }
// The same content under the same contract and drift inputs is looked up, not checked
// again; the newest report under the contract in force is the data's verdict.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataQualityReport } from '../../../tools/ports.js';
import { canonicalJson, sha256Hex } from '../../audit/index.js';
import { readJsonIfExists, writeFileAtomic } from '../../durable-file.js';

interface StoredCheck {
  schemaVersion: 1;
  driftKey: string;
  report: DataQualityReport;
}

/** What the drift part of a report depends on besides the data: the reference and the scoring model. */
export interface DriftInputs {
  reference: string | null;
  referenceVersion: string | null;
  model: string | null;
  modelVersion: string | null;
}

export interface DataCheckStore {
  find(dataVersion: string, contractHash: string, drift: DriftInputs): Promise<DataQualityReport | undefined>;
  newest(dataVersion: string, contractHash: string): Promise<DataQualityReport | undefined>;
  save(report: DataQualityReport, contractHash: string, drift: DriftInputs): Promise<void>;
}

const DATA_VERSION = /^[0-9a-f]{64}$/;

/** The hash a report carries: over everything in it but the hash itself and whether it was reused. */
export function reportHashOf(
  report: Omit<DataQualityReport, 'reportHash' | 'reused'> & { reportHash?: string; reused?: boolean },
): string {
  const { reportHash: _hash, reused: _reused, ...rest } = report;
  return sha256Hex(canonicalJson(rest));
}

export function createDataCheckStore(dir: string): DataCheckStore {
  const driftKeyOf = (drift: DriftInputs) => sha256Hex(canonicalJson(drift));
  const fileOf = (dataVersion: string, contractHash: string, driftKey: string) =>
    join(dir, dataVersion, `${contractHash.slice(0, 16)}-${driftKey.slice(0, 16)}.json`);
  const check = (dataVersion: string) => {
    // The version comes from our own hashing; anything else must not become a path.
    if (!DATA_VERSION.test(dataVersion)) throw new Error(`data version "${dataVersion}" is not a sha256 hex digest`);
  };

  return {
    async find(dataVersion, contractHash, drift) {
      check(dataVersion);
      const driftKey = driftKeyOf(drift);
      const stored = await readJsonIfExists<StoredCheck>(fileOf(dataVersion, contractHash, driftKey));
      return stored?.schemaVersion === 1 && stored.driftKey === driftKey ? stored.report : undefined;
    },
    async newest(dataVersion, contractHash) {
      check(dataVersion);
      let names: string[];
      try {
        names = await readdir(join(dir, dataVersion));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
      const prefix = `${contractHash.slice(0, 16)}-`;
      let best: DataQualityReport | undefined;
      for (const name of names.filter((n) => n.startsWith(prefix) && n.endsWith('.json'))) {
        const stored = await readJsonIfExists<StoredCheck>(join(dir, dataVersion, name));
        if (stored?.schemaVersion !== 1) continue;
        if (!best || stored.report.checkedAt > best.checkedAt) best = stored.report;
      }
      return best;
    },
    async save(report, contractHash, drift) {
      check(report.dataVersion);
      const driftKey = driftKeyOf(drift);
      const stored: StoredCheck = { schemaVersion: 1, driftKey, report: { ...report, reused: false } };
      await writeFileAtomic(fileOf(report.dataVersion, contractHash, driftKey), `${JSON.stringify(stored, null, 2)}\n`);
    },
  };
}
