// The contract every DataQuality adapter passes. The harness holds a reference dataset,
// a clean dataset from the same process, and datasets each broken in one known way.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import type { DataQuality, DataQualityReport } from '../../tools/ports.js';

export interface DataQualityHarness {
  dataQuality: DataQuality;
  reference: string;
  clean: string;
  /** Lacks the column `missingColumn`. */
  withoutColumn: { dataset: string; column: string };
  /** `column` is missing in far more rows than allowed. */
  withMissingValues: { dataset: string; column: string };
  /** `column` holds values outside its range. */
  withOutOfRange: { dataset: string; column: string };
  /** Repeats rows (and so ids). */
  withDuplicates: string;
  /** `column`'s distribution moved far from the reference. */
  drifted: { dataset: string; column: string };
  cleanup(): Promise<void>;
}

const alerts = (report: DataQualityReport, check: string, column?: string | null) =>
  report.findings.filter((f) => f.severity === 'alert' && f.check === check && (column === undefined || f.column === column));

export function dataQualityContract(name: string, makeHarness: () => Promise<DataQualityHarness>): void {
  describe(`DataQuality contract: ${name}`, () => {
    let h: DataQualityHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('passes clean data without a single warning', async () => {
      const report = await h.dataQuality.check(h.clean, { reference: h.reference });
      expect(report.findings.filter((f) => f.severity !== 'info')).toEqual([]);
      expect(report.passed).toBe(true);
      expect(report).toMatchObject({ dataset: h.clean, reference: h.reference });
      expect(report.dataVersion).toMatch(/^[0-9a-f]{64}$/);
      expect(report.rows).toBeGreaterThan(0);
    });

    it('fails a dataset that lacks a schema column, naming it', async () => {
      const report = await h.dataQuality.check(h.withoutColumn.dataset, { reference: h.reference });
      expect(alerts(report, 'schema', h.withoutColumn.column)).toHaveLength(1);
      expect(report.passed).toBe(false);
    });

    it('fails a dataset with too many missing values in a column', async () => {
      const report = await h.dataQuality.check(h.withMissingValues.dataset, { reference: h.reference });
      const [finding] = alerts(report, 'missing', h.withMissingValues.column);
      expect(finding).toBeDefined();
      expect(finding!.value as number).toBeGreaterThan(finding!.threshold!);
      expect(report.passed).toBe(false);
    });

    it('fails a dataset with values outside their range', async () => {
      const report = await h.dataQuality.check(h.withOutOfRange.dataset, { reference: h.reference });
      expect(alerts(report, 'range', h.withOutOfRange.column)).toHaveLength(1);
      expect(report.passed).toBe(false);
    });

    it('fails a dataset with duplicated rows', async () => {
      const report = await h.dataQuality.check(h.withDuplicates, { reference: h.reference });
      expect(alerts(report, 'duplicates').length).toBeGreaterThan(0);
      expect(report.passed).toBe(false);
    });

    it('alerts on a feature whose distribution drifted from the reference', async () => {
      const report = await h.dataQuality.check(h.drifted.dataset, { reference: h.reference });
      const [psi] = alerts(report, 'psi', h.drifted.column);
      expect(psi).toBeDefined();
      expect(psi!.value as number).toBeGreaterThanOrEqual(0.25);
      expect(report.passed).toBe(false);
    });

    it('refuses a dataset that does not exist with a not-found error', async () => {
      await expect(h.dataQuality.check('no-such-dataset')).rejects.toMatchObject({ code: 'not_found' });
      await expect(h.dataQuality.check('no-such-dataset')).rejects.toBeInstanceOf(UserError);
    });
  });
}
