// The contract every DataQuality adapter passes. The harness holds a reference dataset,
// a clean dataset from the same process, datasets each broken in one known way against
// the data contract, and one whose distribution moved (valid data: drift only).
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UserError } from '../../src/errors.js';
import type { DataQuality, DataQualityReport } from '../../tools/ports.js';

export interface DataQualityHarness {
  dataQuality: DataQuality;
  reference: string;
  clean: string;
  /** Lacks the column `column`. */
  withoutColumn: { dataset: string; column: string };
  /** `column` is empty in far more rows than its contract allows. */
  withMissingValues: { dataset: string; column: string };
  /** `column` holds values outside its range. */
  withOutOfRange: { dataset: string; column: string };
  /** Repeats rows (and so ids). */
  withDuplicates: string;
  /** `column`'s distribution moved far from the reference; every rule still holds. */
  drifted: { dataset: string; column: string };
  /** Changes the content of `dataset` (its rows stay valid). */
  changeContent(dataset: string): Promise<void>;
  cleanup(): Promise<void>;
}

const hardOn = (report: DataQualityReport, column: string) =>
  report.violations.filter((v) => v.severity === 'hard' && v.column === column);

export function dataQualityContract(name: string, makeHarness: () => Promise<DataQualityHarness>): void {
  describe(`DataQuality contract: ${name}`, () => {
    let h: DataQualityHarness;
    beforeEach(async () => {
      h = await makeHarness();
    });
    afterEach(async () => {
      await h.cleanup();
    });

    it('passes clean data with no violation and a verdict of drift only', async () => {
      const report = await h.dataQuality.check(h.clean, { reference: h.reference });
      expect(report.violations).toEqual([]);
      expect(report.findings.filter((f) => f.severity !== 'info')).toEqual([]);
      expect(report.verdict).toEqual({
        passed: true,
        failedChecks: [],
        softFailures: [],
        driftOnly: true,
        drifted: false,
      });
      expect(report).toMatchObject({ dataset: h.clean, reference: h.reference, passed: true, reused: false });
      expect(report.dataVersion).toMatch(/^[0-9a-f]{64}$/);
      expect(report.reportHash).toMatch(/^[0-9a-f]{64}$/);
      expect(report.rows).toBeGreaterThan(0);
    });

    it('fails a dataset that lacks a contract column, naming the rule', async () => {
      const report = await h.dataQuality.check(h.withoutColumn.dataset, { reference: h.reference });
      const [violation] = hardOn(report, h.withoutColumn.column);
      expect(violation).toBeDefined();
      expect(report.passed).toBe(false);
      expect(report.verdict.failedChecks).toContain(violation!.rule);
    });

    it('fails a dataset with too many missing values in a column, with the rows affected and examples', async () => {
      const report = await h.dataQuality.check(h.withMissingValues.dataset, { reference: h.reference });
      const [violation] = hardOn(report, h.withMissingValues.column);
      expect(violation!.rowsAffected).toBeGreaterThan(0);
      expect(violation!.examples.length).toBeGreaterThan(0);
      expect(violation!.examples[0]!.values[h.withMissingValues.column]).toBeNull();
      expect(report.verdict).toMatchObject({ passed: false, driftOnly: false });
    });

    it('fails a dataset with values outside their range', async () => {
      const report = await h.dataQuality.check(h.withOutOfRange.dataset, { reference: h.reference });
      const [violation] = hardOn(report, h.withOutOfRange.column);
      expect(violation!.rowsAffected).toBeGreaterThan(0);
      expect(report.passed).toBe(false);
    });

    it('fails a dataset with duplicated rows', async () => {
      const report = await h.dataQuality.check(h.withDuplicates, { reference: h.reference });
      expect(report.violations.filter((v) => v.severity === 'hard').length).toBeGreaterThan(0);
      expect(report.passed).toBe(false);
    });

    it('passes drifted but valid data, reporting the drift beside the verdict', async () => {
      const report = await h.dataQuality.check(h.drifted.dataset, { reference: h.reference });
      const psi = report.findings.find(
        (f) => f.severity === 'alert' && f.check === 'psi' && f.column === h.drifted.column,
      );
      expect(psi!.value as number).toBeGreaterThanOrEqual(0.25);
      expect(report.violations).toEqual([]);
      expect(report.verdict).toEqual({
        passed: true,
        failedChecks: [],
        softFailures: [],
        driftOnly: true,
        drifted: true,
      });
    });

    it('looks the same content up instead of checking it again', async () => {
      const first = await h.dataQuality.check(h.withOutOfRange.dataset, { reference: h.reference });
      const again = await h.dataQuality.check(h.withOutOfRange.dataset, { reference: h.reference });
      expect(again).toEqual({ ...first, reused: true });
    });

    it('tells the stored verdict on the current content, and forgets it when the content changes', async () => {
      expect(await h.dataQuality.verdict(h.withMissingValues.dataset)).toMatchObject({
        checked: false,
        verdict: null,
        reportHash: null,
      });
      const report = await h.dataQuality.check(h.withMissingValues.dataset);
      expect(await h.dataQuality.verdict(h.withMissingValues.dataset)).toEqual({
        dataset: h.withMissingValues.dataset,
        dataVersion: report.dataVersion,
        checked: true,
        verdict: report.verdict,
        reportHash: report.reportHash,
        checkedAt: report.checkedAt,
      });
      await h.changeContent(h.withMissingValues.dataset);
      const after = await h.dataQuality.verdict(h.withMissingValues.dataset);
      expect(after).toMatchObject({ checked: false, verdict: null });
      expect(after.dataVersion).not.toBe(report.dataVersion);
    });

    it('refuses a dataset that does not exist with a not-found error', async () => {
      await expect(h.dataQuality.check('no-such-dataset')).rejects.toMatchObject({ code: 'not_found' });
      await expect(h.dataQuality.check('no-such-dataset')).rejects.toBeInstanceOf(UserError);
      await expect(h.dataQuality.verdict('no-such-dataset')).rejects.toMatchObject({ code: 'not_found' });
    });
  });
}
