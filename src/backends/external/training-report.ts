// What an external training job reports, as one JSON object (a line of a command's
// stdout, or a training service's status body): progress, and at the end the registered
// version or the MLflow run that registered it, or an error.
import type { JobRecord } from './job-records.js';

export interface TrainingReport {
  progress?: number;
  version?: string;
  runId?: string;
  error?: string;
}

/** Turns an MLflow run into the version registered from it (undefined: none yet). */
export type VersionOfRun = (model: string, runId: string) => Promise<string | undefined>;

/** The report a JSON object carries; null when it carries none of the fields. */
export function reportFrom(value: unknown): TrainingReport | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const o = value as Record<string, unknown>;
  const report: TrainingReport = {};
  if (typeof o.progress === 'number' && Number.isFinite(o.progress))
    report.progress = Math.min(1, Math.max(0, o.progress));
  if (typeof o.version === 'string' && o.version !== '') report.version = o.version;
  if (typeof o.version === 'number' && Number.isInteger(o.version)) report.version = String(o.version);
  const runId = o.runId ?? o.run_id;
  if (typeof runId === 'string' && runId !== '') report.runId = runId;
  if (typeof o.error === 'string' && o.error !== '') report.error = o.error;
  return Object.keys(report).length > 0 ? report : null;
}

/** A stdout line's report; lines that are not JSON objects are the command's own chatter. */
export function parseReportLine(line: string): TrainingReport | null {
  const text = line.trim();
  if (!text.startsWith('{')) return null;
  try {
    return reportFrom(JSON.parse(text));
  } catch {
    return null;
  }
}

/** The job once its work ended without failing: succeeded with a version, or failed saying what was missing. */
export async function applyReport(
  record: JobRecord,
  report: TrainingReport | null,
  versionOfRun: VersionOfRun | undefined,
  who: string,
): Promise<JobRecord> {
  const failed = (error: string): JobRecord => ({ ...record, status: 'failed', error });
  if (report?.error) return failed(`${who} reported an error: ${report.error}`);
  const runId = report?.runId ?? null;
  if (report?.version) return { ...record, status: 'succeeded', version: report.version, runId };
  if (runId) {
    if (!versionOfRun)
      return failed(
        `${who} named MLflow run ${runId} but the registry is not MLflow, so no version can be found from it: report {"version": "N"} instead`,
      );
    try {
      const version = await versionOfRun(record.model, runId);
      if (version) return { ...record, status: 'succeeded', version, runId };
      return failed(
        `${who} named MLflow run ${runId}, but no version of model "${record.model}" was registered from that run`,
      );
    } catch (err) {
      return failed(
        `${who} named MLflow run ${runId}, but the registry could not be asked for its version: ${(err as Error).message}`,
      );
    }
  }
  return failed(
    `${who} ended without naming what it registered: it must report a JSON object {"version": "N"} or {"runId": "<MLflow run id>"}`,
  );
}
