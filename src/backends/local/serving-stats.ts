// In-memory windows of what the model server served, per model, environment and version:
// requests, errors, latencies, scores, the rows scored and the labels that came back
// later. The canary analysis and the monitor read them; nothing here is persisted.
import type { Clock } from '../../clock.js';
import type { Environment } from '../../../tools/ports.js';
import type { CreditRow } from './credit-schema.js';

export interface RequestEvent {
  at: number;
  ok: boolean;
  latencyMs: number;
}

export interface PredictionEvent {
  id: string;
  at: number;
  score: number;
  row: CreditRow;
  /** The true outcome, once `/feedback` delivered it. */
  label: 0 | 1 | null;
}

export interface VersionWindow {
  requests: number;
  errors: number;
  latenciesMs: number[];
  scores: number[];
  rows: CreditRow[];
  labelled: { score: number; label: 0 | 1 }[];
}

export type FeedbackResult = 'recorded' | 'unknown' | 'duplicate';

/** A row mirrored to a shadow: its score beside the stable version's on the same row. */
export interface ShadowPredictionEvent {
  /** The id of the prediction the stable version answered with: its label is this row's label too. */
  servedId: string;
  at: number;
  score: number;
  stableVersion: string;
  stableScore: number;
  label: 0 | 1 | null;
}

/** What one shadow scored since a time, paired with what the stable version answered on the same rows. */
export interface ShadowWindow {
  /** Mirrored requests (ok or failed). */
  requests: number;
  errors: number;
  latenciesMs: number[];
  /** The shadow's scores, and the stable version's on the same rows, index by index. */
  scores: number[];
  stableScores: number[];
  /** Labelled rows: the shadow's and the stable version's score with the row's label. */
  labelled: { score: number; stableScore: number; label: 0 | 1 }[];
}

export interface ServingStats {
  recordRequest(event: {
    model: string;
    environment: Environment;
    version: string;
    ok: boolean;
    latencyMs: number;
    predictions: { id: string; score: number; row: CreditRow }[];
  }): void;
  /**
   * What a shadow did with a mirrored request. Kept apart from what versions served, so a
   * shadow never counts as serving (nor in a canary's analysis of the same version).
   */
  recordShadow(event: {
    model: string;
    environment: Environment;
    version: string;
    ok: boolean;
    latencyMs: number;
    predictions: { servedId: string; score: number; stableVersion: string; stableScore: number }[];
  }): void;
  /** Attaches a delayed label to a prediction still held in its window, and to the shadows' scores of the same row. */
  recordFeedback(id: string, label: 0 | 1): FeedbackResult;
  /** Everything served by one version since `sinceMs` (epoch ms; default: all kept). */
  window(model: string, environment: Environment, version: string, sinceMs?: number): VersionWindow;
  /** What the shadow `version` scored since `sinceMs` on rows the stable version `stableVersion` answered. */
  shadowWindow(
    model: string,
    environment: Environment,
    version: string,
    stableVersion: string,
    sinceMs?: number,
  ): ShadowWindow;
  /** The model/environment/version triples that served anything. */
  served(): { model: string; environment: Environment; version: string }[];
}

/** A fixed-capacity buffer that overwrites its oldest entry, calling `onEvict` for it. */
class Ring<T> {
  private readonly items: T[] = [];
  private head = 0;
  constructor(
    private readonly capacity: number,
    private readonly onEvict?: (item: T) => void,
  ) {}
  push(item: T): void {
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    const old = this.items[this.head]!;
    this.items[this.head] = item;
    this.head = (this.head + 1) % this.capacity;
    this.onEvict?.(old);
  }
  *since(at: number, time: (item: T) => number): Generator<T> {
    const n = this.items.length;
    for (let i = 0; i < n; i++) {
      const item = this.items[(this.head + i) % n]!;
      if (time(item) >= at) yield item;
    }
  }
}

/** Adds the requests since `sinceMs` to a window: how many, how many failed, their latencies. */
function countRequests(
  requests: Ring<RequestEvent>,
  sinceMs: number,
  into: { requests: number; errors: number; latenciesMs: number[] },
): void {
  for (const r of requests.since(sinceMs, (e) => e.at)) {
    into.requests++;
    if (!r.ok) into.errors++;
    into.latenciesMs.push(r.latencyMs);
  }
}

interface ShadowSlot {
  requests: Ring<RequestEvent>;
  predictions: Ring<ShadowPredictionEvent>;
}

interface Slot {
  model: string;
  environment: Environment;
  version: string;
  requests: Ring<RequestEvent>;
  predictions: Ring<PredictionEvent>;
}

export function createServingStats(options: {
  clock: Clock;
  maxRequests?: number;
  maxPredictions?: number;
}): ServingStats {
  const maxRequests = options.maxRequests ?? 20_000;
  const maxPredictions = options.maxPredictions ?? 20_000;
  const slots = new Map<string, Slot>();
  // Feedback finds its prediction by id; evicted predictions leave this index with them.
  const byId = new Map<string, PredictionEvent>();
  const shadowSlots = new Map<string, ShadowSlot>();
  // The shadows' scores of a served prediction's row, by the served prediction's id.
  const mirrorsOf = new Map<string, ShadowPredictionEvent[]>();
  const forgetMirror = (old: ShadowPredictionEvent) => {
    const list = mirrorsOf.get(old.servedId);
    if (!list) return;
    const rest = list.filter((m) => m !== old);
    if (rest.length === 0) mirrorsOf.delete(old.servedId);
    else mirrorsOf.set(old.servedId, rest);
  };
  const shadowSlotFor = (model: string, environment: Environment, version: string, create: boolean) => {
    const key = `${model}\u0000${environment}\u0000${version}`;
    let slot = shadowSlots.get(key);
    if (!slot && create) {
      slot = {
        requests: new Ring<RequestEvent>(maxRequests),
        predictions: new Ring<ShadowPredictionEvent>(maxPredictions, forgetMirror),
      };
      shadowSlots.set(key, slot);
    }
    return slot;
  };

  const slotFor = (model: string, environment: Environment, version: string, create: boolean): Slot | undefined => {
    const key = `${model}\u0000${environment}\u0000${version}`;
    let slot = slots.get(key);
    if (!slot && create) {
      slot = {
        model,
        environment,
        version,
        requests: new Ring<RequestEvent>(maxRequests),
        predictions: new Ring<PredictionEvent>(maxPredictions, (old) => byId.delete(old.id)),
      };
      slots.set(key, slot);
    }
    return slot;
  };

  return {
    recordRequest(event) {
      const slot = slotFor(event.model, event.environment, event.version, true)!;
      const at = options.clock.now();
      slot.requests.push({ at, ok: event.ok, latencyMs: event.latencyMs });
      for (const p of event.predictions) {
        const prediction: PredictionEvent = { id: p.id, at, score: p.score, row: p.row, label: null };
        slot.predictions.push(prediction);
        byId.set(p.id, prediction);
      }
    },

    recordShadow(event) {
      const slot = shadowSlotFor(event.model, event.environment, event.version, true)!;
      const at = options.clock.now();
      slot.requests.push({ at, ok: event.ok, latencyMs: event.latencyMs });
      for (const p of event.predictions) {
        // A label that came back before the shadow scored (it runs after the answer) is taken over.
        const served = byId.get(p.servedId);
        const mirrored: ShadowPredictionEvent = { ...p, at, label: served?.label ?? null };
        slot.predictions.push(mirrored);
        mirrorsOf.set(p.servedId, [...(mirrorsOf.get(p.servedId) ?? []), mirrored]);
      }
    },

    recordFeedback(id, label) {
      const prediction = byId.get(id);
      const mirrors = mirrorsOf.get(id) ?? [];
      for (const m of mirrors) if (m.label === null) m.label = label;
      if (!prediction) return mirrors.length > 0 ? 'recorded' : 'unknown';
      if (prediction.label !== null) return 'duplicate';
      prediction.label = label;
      return 'recorded';
    },

    shadowWindow(model, environment, version, stableVersion, sinceMs = Number.NEGATIVE_INFINITY) {
      const result: ShadowWindow = {
        requests: 0,
        errors: 0,
        latenciesMs: [],
        scores: [],
        stableScores: [],
        labelled: [],
      };
      const slot = shadowSlotFor(model, environment, version, false);
      if (!slot) return result;
      countRequests(slot.requests, sinceMs, result);
      for (const p of slot.predictions.since(sinceMs, (e) => e.at)) {
        if (p.stableVersion !== stableVersion) continue;
        result.scores.push(p.score);
        result.stableScores.push(p.stableScore);
        if (p.label !== null) result.labelled.push({ score: p.score, stableScore: p.stableScore, label: p.label });
      }
      return result;
    },

    window(model, environment, version, sinceMs = Number.NEGATIVE_INFINITY) {
      const result: VersionWindow = { requests: 0, errors: 0, latenciesMs: [], scores: [], rows: [], labelled: [] };
      const slot = slotFor(model, environment, version, false);
      if (!slot) return result;
      countRequests(slot.requests, sinceMs, result);
      for (const p of slot.predictions.since(sinceMs, (e) => e.at)) {
        result.scores.push(p.score);
        result.rows.push(p.row);
        if (p.label !== null) result.labelled.push({ score: p.score, label: p.label });
      }
      return result;
    },

    served() {
      return [...slots.values()].map(({ model, environment, version }) => ({ model, environment, version }));
    },
  };
}

/** Nearest-rank percentile (p in 0..1) of an unsorted sample; NaN when empty. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const asc = Float64Array.from(values).sort();
  const rank = Math.max(1, Math.ceil(p * asc.length));
  return asc[rank - 1]!;
}

/** Labelled predictions on the right side of `threshold`. */
export function correctPredictions(labelled: readonly { score: number; label: 0 | 1 }[], threshold = 0.5): number {
  let right = 0;
  for (const { score, label } of labelled) if ((score >= threshold ? 1 : 0) === label) right++;
  return right;
}

/** Share of labelled predictions on the right side of `threshold`. NaN when none. */
export function accuracy(labelled: readonly { score: number; label: 0 | 1 }[], threshold = 0.5): number {
  if (labelled.length === 0) return Number.NaN;
  return correctPredictions(labelled, threshold) / labelled.length;
}
