// The `http` trainer: jobs run on the team's training service. The protocol (README,
// "Connect your stack"):
//   POST startUrl  {jobId, model, dataset, params, searchTrials, requestedBy, idempotencyKey}
//                  with header Idempotency-Key; a 2xx accepts it, and a repeated jobId must be
//                  the same job (the id is chosen here, from the key, so a retry cannot start another).
//   GET statusUrl  ({jobId} filled) -> {status: queued|running|succeeded|failed, progress?,
//                  version?, runId?, error?}; 404 when the service has no such job.
// The job record (with its key) is written before the POST, so any process sharing the
// directory knows the key was used, and asks the service what became of it.
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { systemClock, type Clock } from '../../clock.js';
import { UpstreamError, UserError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { Trainer, TrainingJob, TrainingRequest, TrainingStatus } from '../../../tools/ports.js';
import { describeBody, requestJson, type JsonResponse } from '../http-json.js';
import type { HttpTrainerSettings } from '../settings.js';
import {
  checkSameRequest,
  createJobRecords,
  finished,
  jobReads,
  newJobRecord,
  toJob,
  type JobRecord,
} from './job-records.js';
import { applyReport, reportFrom, type VersionOfRun } from './training-report.js';

const SERVICE = 'training service';
const STATUSES: readonly TrainingStatus[] = ['queued', 'running', 'succeeded', 'failed'];

export interface HttpTrainerOptions {
  settings: HttpTrainerSettings;
  dir: string;
  logger: Logger;
  clock?: Clock;
  versionOfRun?: VersionOfRun;
}

export function createHttpTrainer(options: HttpTrainerOptions): Trainer {
  const { settings, logger } = options;
  const clock = options.clock ?? systemClock;
  const dir = join(options.dir, 'jobs');
  const records = createJobRecords(dir);
  const headers: Record<string, string> = settings.token ? { authorization: `Bearer ${settings.token}` } : {};
  const statusUrl = (jobId: string) => settings.statusUrl.replace('{jobId}', encodeURIComponent(jobId));

  function refusal(res: JsonResponse, url: string): Error {
    if (res.status === 401 || res.status === 403) {
      return new UserError(
        `${SERVICE} at ${url} refused the credentials (HTTP ${res.status}): check backends.httpTrainer.token`,
        { code: 'config_invalid' },
      );
    }
    if (res.status >= 500)
      return new UpstreamError(SERVICE, `${url} answered HTTP ${res.status}: ${describeBody(res.body)}`, {
        retryable: true,
      });
    return new UserError(`${SERVICE} at ${url} refused the job (HTTP ${res.status}): ${describeBody(res.body)}`);
  }

  async function submit(record: JobRecord): Promise<void> {
    const res = await requestJson({
      method: 'POST',
      url: settings.startUrl,
      headers: { ...headers, ...(record.idempotencyKey ? { 'idempotency-key': record.idempotencyKey } : {}) },
      body: {
        jobId: record.jobId,
        model: record.model,
        dataset: record.dataset,
        params: record.params,
        searchTrials: record.searchTrials,
        requestedBy: record.requestedBy,
        idempotencyKey: record.idempotencyKey,
      },
      timeoutMs: settings.requestTimeoutMs,
      service: SERVICE,
    });
    if (res.status >= 200 && res.status < 300) return;
    const err = refusal(res, settings.startUrl);
    // Refused, not merely unanswered: nothing started under the key, so it is free again.
    if (err instanceof UserError) await unlink(join(dir, `${record.jobId}.json`)).catch(() => undefined);
    throw err;
  }

  /** The job as the service reports it now; undefined when the service has no such job. */
  async function remote(record: JobRecord): Promise<JobRecord | undefined> {
    if (finished(record)) return record;
    const url = statusUrl(record.jobId);
    const res = await requestJson({
      method: 'GET',
      url,
      headers,
      timeoutMs: settings.requestTimeoutMs,
      service: SERVICE,
    });
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw refusal(res, url);
    const body = (res.body ?? {}) as Record<string, unknown>;
    const status = body.status as TrainingStatus;
    if (!STATUSES.includes(status)) {
      throw new UpstreamError(
        SERVICE,
        `${url} answered without a status of ${STATUSES.join(', ')}: ${describeBody(res.body)}`,
        { retryable: false },
      );
    }
    const report = reportFrom(body);
    const progress = Math.max(record.progress, report?.progress ?? 0);
    if (status === 'queued' || status === 'running') return { ...record, status, progress };
    const ended =
      status === 'failed'
        ? {
            ...record,
            status: 'failed' as const,
            error: `${SERVICE} reported the job failed: ${report?.error ?? 'no reason given'}`,
          }
        : await applyReport(record, report, options.versionOfRun, SERVICE);
    const done: JobRecord = {
      ...ended,
      finishedAt: new Date(clock.now()).toISOString(),
      ...(ended.status === 'succeeded' ? { progress: 1 } : {}),
    };
    // Kept, so the ended job is answered without asking again.
    await records.write(done);
    logger.info(
      { jobId: done.jobId, status: done.status, version: done.version, error: done.error },
      'training service job finished',
    );
    return done;
  }

  async function current(jobId: string): Promise<JobRecord | undefined> {
    const record = await records.read(jobId);
    return record ? remote(record) : undefined;
  }

  return {
    async start(request: TrainingRequest): Promise<TrainingJob> {
      const record = newJobRecord(request, clock.now());
      const kept = await records.create(record);
      if (kept.created) {
        await submit(record);
        logger.info(
          { jobId: record.jobId, model: record.model, dataset: record.dataset },
          'training service job started',
        );
        return toJob((await remote(record)) ?? record);
      }
      checkSameRequest(kept.record, request);
      // A start that died before the service answered: the same jobId again, which the service dedupes.
      const seen = await remote(kept.record);
      if (seen) return toJob(seen);
      await submit(kept.record);
      return toJob((await remote(kept.record)) ?? kept.record);
    },
    ...jobReads(current, () => settings.pollIntervalMs),
  };
}
