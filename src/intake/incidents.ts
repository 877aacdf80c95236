// Incident identity: a run answers alerts, not notifications. An alert is its fingerprint
// (Alertmanager; for a generic alert its dedupe key) and the time it started firing; the
// index remembers which run handles each firing alert. A notification whose firing alerts
// are all handled starts nothing: Alertmanager's repeat_interval re-sends, the second
// Alertmanager of an HA pair, and repeats after the run ended all find their run here. A
// new run starts only for an alert the index does not know, one that fired again after it
// resolved (a new startsAt), or once the runbook's re-check interval has passed.
import { join } from 'node:path';
import { readdirSync, readFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import type { Trigger } from '../agent/run.js';
import { sha256Hex } from '../audit/index.js';
import { writeFileAtomic } from '../durable-file.js';

/** One alert of a notification, as the index knows it. */
export interface IncidentAlert {
  /** `am:<fingerprint>`, or `generic:<dedupe key>`. */
  key: string;
  /** When it started firing; null for a generic alert sent without one (then: first seen firing). */
  startsAt: string | null;
  status: 'firing' | 'resolved';
}

/** A validated alert notification: the run's trigger, its group's coalescing key, and its alerts. */
export interface AlertNotice {
  trigger: Trigger;
  dedupeKey: string;
  status: 'firing' | 'resolved';
  alerts: IncidentAlert[];
}

/** What the index holds about one alert. */
export interface AlertRecord {
  schemaVersion: 1;
  key: string;
  /** The firing it is about: the alert's startsAt, or when it was first seen firing. */
  startsAt: string;
  status: 'firing' | 'resolved';
  /** The run that handles this firing. */
  runId: string;
  /** When that run was given it (the re-check interval counts from here). */
  handledAt: string;
  resolvedAt: string | null;
}

/** How long a resolved alert is remembered: a late copy of its last firing notice (HA, retries) still finds its run. */
export const RESOLVED_KEPT_MS = 24 * 3600 * 1000;
/** A firing alert nobody has re-sent for this long is forgotten (Alertmanager re-sends firing alerts every repeat_interval). */
export const FIRING_KEPT_MS = 30 * 24 * 3600 * 1000;

export interface IncidentIndex {
  get(keys: readonly string[]): Promise<(AlertRecord | undefined)[]>;
  /** Keeps each record (replacing what the index held for its key). */
  put(records: readonly AlertRecord[]): Promise<void>;
  close(): Promise<void>;
}

/** Which of a notification's firing alerts are new, and which runs handle the others. */
export interface IncidentVerdict {
  /** Alerts no run handles: the notification starts (or joins) a run for them. */
  fresh: IncidentAlert[];
  /** Handled alerts' runs, most recently handed first, each once. */
  handledBy: string[];
}

export function judgeAlerts(
  alerts: readonly IncidentAlert[],
  known: readonly (AlertRecord | undefined)[],
  now: number,
  recheckAfterMs: number | null,
): IncidentVerdict {
  const fresh: IncidentAlert[] = [];
  const handled: AlertRecord[] = [];
  alerts.forEach((alert, i) => {
    if (alert.status !== 'firing') return;
    const record = known[i];
    if (!record) return fresh.push(alert);
    // Fired again after it resolved: Alertmanager gives the new firing a new startsAt.
    if (alert.startsAt !== null && alert.startsAt !== record.startsAt) return fresh.push(alert);
    if (alert.startsAt === null && record.status === 'resolved') return fresh.push(alert);
    // Still firing after the runbook's re-check interval: time to look again.
    if (record.status === 'firing' && recheckAfterMs !== null && now - Date.parse(record.handledAt) >= recheckAfterMs)
      return fresh.push(alert);
    handled.push(record);
  });
  handled.sort((a, b) => b.handledAt.localeCompare(a.handledAt));
  return { fresh, handledBy: [...new Set(handled.map((r) => r.runId))] };
}

/** The records that say `runId` handles `alerts` from `at`. */
export function handledRecords(
  alerts: readonly IncidentAlert[],
  known: readonly (AlertRecord | undefined)[],
  runId: string,
  at: string,
): AlertRecord[] {
  return alerts.map((a, i) => {
    const earlier = known[i];
    // A generic alert's firing is dated by its first sighting; a recheck keeps that date.
    const startsAt = a.startsAt ?? (earlier && earlier.status === 'firing' ? earlier.startsAt : at);
    return { schemaVersion: 1, key: a.key, startsAt, status: 'firing', runId, handledAt: at, resolvedAt: null };
  });
}

/** The records that say `alerts` resolved at `at` (alerts the index never saw are not added). */
export function resolvedRecords(
  alerts: readonly IncidentAlert[],
  known: readonly (AlertRecord | undefined)[],
  at: string,
): AlertRecord[] {
  return alerts.flatMap((a, i) => {
    const earlier = known[i];
    if (!earlier || earlier.status === 'resolved') return [];
    // A resolved notice about an older firing than the one handled now changes nothing.
    if (a.startsAt !== null && a.startsAt !== earlier.startsAt) return [];
    return [{ ...earlier, status: 'resolved' as const, resolvedAt: at }];
  });
}

/** When the index forgets `record`: a day after it resolved, 30 days after its run took it while it fires. */
export function forgottenAt(record: AlertRecord): number {
  if (record.status === 'resolved') return Date.parse(record.resolvedAt ?? record.handledAt) + RESOLVED_KEPT_MS;
  return Date.parse(record.handledAt) + FIRING_KEPT_MS;
}

function expired(record: AlertRecord, now: number): boolean {
  return now > forgottenAt(record);
}

/** In memory, for tests and one-process commands. */
export function createMemoryIncidentIndex(now: () => number = Date.now): IncidentIndex {
  const records = new Map<string, AlertRecord>();
  return {
    async get(keys) {
      return keys.map((k) => {
        const r = records.get(k);
        return r && !expired(r, now()) ? structuredClone(r) : undefined;
      });
    },
    async put(list) {
      for (const r of list) records.set(r.key, structuredClone(r));
    },
    async close() {},
  };
}

/**
 * One fsync'd file per alert under `dir`, read into memory at open (the in-process queue's
 * companion: one process writes it). Expired records are dropped at open and as they are read.
 */
export function openFileIncidentIndex(dir: string, now: () => number = Date.now): IncidentIndex {
  const fileOf = (key: string) => join(dir, `${sha256Hex(key).slice(0, 40)}.json`);
  const records = new Map<string, AlertRecord>();
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  for (const name of names) {
    try {
      const record = JSON.parse(readFileSync(join(dir, name), 'utf8')) as AlertRecord;
      if (typeof record.key === 'string' && !expired(record, now())) records.set(record.key, record);
      else void unlink(join(dir, name)).catch(() => undefined);
    } catch {
      // A torn file is a record lost: its alert counts as new, which starts a run rather than missing one.
    }
  }
  return {
    async get(keys) {
      return keys.map((k) => {
        const r = records.get(k);
        if (r && expired(r, now())) {
          records.delete(k);
          void unlink(fileOf(k)).catch(() => undefined);
          return undefined;
        }
        return r && structuredClone(r);
      });
    },
    async put(list) {
      for (const r of list) records.set(r.key, structuredClone(r));
      await Promise.all(list.map((r) => writeFileAtomic(fileOf(r.key), JSON.stringify(r))));
    },
    async close() {},
  };
}
