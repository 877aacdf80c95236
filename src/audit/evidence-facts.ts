// What one run's audit entries say, arranged for an auditor: the trigger, each planner
// turn, each call with its decision, approvals and result, the data and model versions
// involved, canary analyses and drift. Read only from the entries, so a verified bundle
// proves all of it. Tool outputs are read by shape, not by tool, and unknown kinds are
// kept in the timeline.
import type { AuditEntry } from './types.js';

type Json = Record<string, unknown>;

export interface TimelineItem {
  seq: number;
  time: string;
  kind: string;
  principal: string;
  summary: string;
}

export interface Decision {
  seq: number;
  time: string;
  effect: string;
  ruleId: string | null;
  reason: string;
  policy: string | null;
  risk: Json | null;
}

export interface Vote {
  seq: number;
  time: string;
  by: string;
  verdict: string;
  roles: string[];
  via: string | null;
  comment: string | null;
}

export interface ApprovalRecord {
  approvalId: string;
  callId: string | null;
  tool: string | null;
  requestedAt: string | null;
  requestedBy: string | null;
  required: Json | null;
  expiresAt: string | null;
  votes: Vote[];
  /** granted, denied, expired, moot, consumed… as recorded, in order. */
  outcomes: { seq: number; time: string; kind: string; by: string; detail: string | null }[];
}

export interface CallRecord {
  callId: string;
  tool: string;
  args: unknown;
  proposedAt: string | null;
  decisions: Decision[];
  approvals: string[];
  result: { seq: number; time: string; kind: string; summary: string | null; output: unknown; error: unknown } | null;
}

export interface DataVerdict {
  seq: number;
  dataset: string;
  dataVersion: string | null;
  /** The data contract it was checked against, by name; null when none covered it. */
  contract: string | null;
  /** The report's hash: model versions trained on this data record it. */
  reportHash: string | null;
  reference: string | null;
  rows: number | null;
  passed: boolean | null;
  /** Hard and soft contract rules broken, and whether drift was all that was found. */
  verdict: {
    failedChecks: string[];
    softFailures: string[];
    driftOnly: boolean | null;
    drifted: boolean | null;
  } | null;
  violations: { rule: string; severity: string; column: string | null; rowsAffected: number | null; message: string }[];
  checkedAt: string | null;
  findings: {
    check: string;
    column: string | null;
    value: unknown;
    threshold: number | null;
    severity: string;
    message: string;
  }[];
}

export interface ModelMention {
  model: string;
  version: string;
  /** Where the run met it: `trained`, `compared`, `canary`, `stable`, `rollback`, `argument`. */
  roles: string[];
  dataset: string | null;
  dataVersion: string | null;
  metrics: Record<string, number> | null;
  promotable: boolean | null;
  failedQualityGates: unknown[] | null;
  trainingJobId: string | null;
  /** reportHash of the data-quality report on the data it was trained on, when the run saw it. */
  dataQualityReport: string | null;
}

export interface CanaryAnalysisRecord {
  at: string;
  trafficPercent: number;
  passed: boolean;
  checks: { check: string; canary: number; stable: number; threshold: number; passed: boolean; bound?: number }[];
}

export interface CanaryRecord {
  seq: number;
  model: string;
  environment: string;
  stableVersion: string | null;
  canaryVersion: string | null;
  status: string | null;
  reason: string | null;
  analyses: CanaryAnalysisRecord[];
}

export interface RunRecord {
  runId: string;
  trigger: Json | null;
  startedAt: string | null;
  /** The principal the run acts for (who sent the trigger). */
  startedBy: string | null;
  outcome: { status: string; answer: string | null; seq: number; time: string } | null;
  turns: {
    seq: number;
    time: string;
    planner: string | null;
    text: string | null;
    calls: { name: string; args: unknown }[];
  }[];
  calls: CallRecord[];
  approvals: ApprovalRecord[];
  dataQuality: DataVerdict[];
  models: ModelMention[];
  canaries: CanaryRecord[];
  timeline: TimelineItem[];
}

const obj = (v: unknown): Json | null =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : null;
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);

function summarize(entry: AuditEntry): string {
  const d = entry.data;
  const tool = str(d.tool);
  switch (entry.kind) {
    case 'run.started':
      return str(obj(d.trigger)?.text) ?? 'run started';
    case 'planner.turn':
      return str(d.text) ?? '';
    case 'call.proposed':
      return `${tool ?? '?'} ${JSON.stringify(d.args ?? {})}`;
    case 'policy.decision': {
      const decision = obj(d.decision);
      return `${tool ?? '?'}: ${str(decision?.effect) ?? '?'} by rule ${str(decision?.ruleId) ?? '(none)'}: ${str(decision?.reason) ?? ''}`;
    }
    case 'approval.vote':
      return `${str(d.approver) ?? entry.principal} ${str(d.verdict) ?? ''} ${str(d.approvalId) ?? ''}${str(d.comment) ? `: ${str(d.comment)}` : ''}`;
    case 'execution.finished':
      return `${tool ?? '?'}: ${str(d.summary) ?? 'finished'}`;
    case 'execution.failed':
      return `${tool ?? '?'} failed: ${typeof d.error === 'string' ? d.error : JSON.stringify(d.error ?? null)}`;
    case 'run.finished':
      return `${str(d.status) ?? ''}${str(d.answer) ? `: ${str(d.answer)!.split('\n')[0]}` : ''}`;
    default: {
      const text = Object.entries(d)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      return text.length > 240 ? `${text.slice(0, 239)}…` : text;
    }
  }
}

function addModel(
  models: Map<string, ModelMention>,
  model: string | null,
  version: string | null,
  role: string,
  details: Partial<ModelMention> = {},
): void {
  if (!model || !version) return;
  const key = `${model}\u0000${version}`;
  const known = models.get(key) ?? {
    model,
    version,
    roles: [],
    dataset: null,
    dataVersion: null,
    metrics: null,
    promotable: null,
    failedQualityGates: null,
    trainingJobId: null,
    dataQualityReport: null,
  };
  if (!known.roles.includes(role)) known.roles.push(role);
  for (const [k, v] of Object.entries(details)) if (v !== null && v !== undefined) (known as unknown as Json)[k] = v;
  models.set(key, known);
}

function readVersionRecord(models: Map<string, ModelMention>, record: Json | null, role: string): void {
  if (!record) return;
  const metrics = obj(record.metrics) as Record<string, number> | null;
  addModel(models, str(record.model), str(record.version), role, {
    dataset: str(record.dataset),
    dataVersion: str(record.dataVersion),
    metrics,
    promotable: bool(record.promotable),
    trainingJobId: str(record.trainingJobId),
    dataQualityReport: str(record.dataQualityReport),
  });
}

function analysesOf(value: unknown): CanaryAnalysisRecord[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((a) => {
    const o = obj(a);
    if (!o || !Array.isArray(o.checks)) return [];
    return [
      {
        at: str(o.at) ?? '',
        trafficPercent: num(o.trafficPercent) ?? 0,
        passed: o.passed === true,
        checks: o.checks.flatMap((c) => (obj(c) ? [c as CanaryAnalysisRecord['checks'][number]] : [])),
      },
    ];
  });
}

/** A run's record before any of its entries is read: what a run with no entries shows. */
export function emptyRunRecord(runId: string): RunRecord {
  return {
    runId,
    trigger: null,
    startedAt: null,
    startedBy: null,
    outcome: null,
    turns: [],
    calls: [],
    approvals: [],
    dataQuality: [],
    models: [],
    canaries: [],
    timeline: [],
  };
}

/** The record of `runId` from its entries, in chain order. */
export function runRecord(runId: string, entries: readonly AuditEntry[]): RunRecord {
  const record = emptyRunRecord(runId);
  const calls = new Map<string, CallRecord>();
  const approvals = new Map<string, ApprovalRecord>();
  const models = new Map<string, ModelMention>();
  const callOf = (d: Json): CallRecord | null => {
    const callId = str(d.callId);
    if (!callId) return null;
    let call = calls.get(callId);
    if (!call) {
      call = {
        callId,
        tool: str(d.tool) ?? '?',
        args: d.args ?? null,
        proposedAt: null,
        decisions: [],
        approvals: [],
        result: null,
      };
      calls.set(callId, call);
    }
    return call;
  };
  const approvalOf = (id: string): ApprovalRecord => {
    let a = approvals.get(id);
    if (!a) {
      a = {
        approvalId: id,
        callId: null,
        tool: null,
        requestedAt: null,
        requestedBy: null,
        required: null,
        expiresAt: null,
        votes: [],
        outcomes: [],
      };
      approvals.set(id, a);
    }
    return a;
  };

  for (const entry of entries) {
    if (entry.runId !== runId) continue;
    const d = entry.data;
    record.timeline.push({
      seq: entry.seq,
      time: entry.time,
      kind: entry.kind,
      principal: entry.principal,
      summary: summarize(entry),
    });
    switch (entry.kind) {
      case 'run.started':
        record.trigger = obj(d.trigger);
        record.startedAt = entry.time;
        record.startedBy = entry.principal;
        break;
      case 'planner.turn':
        record.turns.push({
          seq: entry.seq,
          time: entry.time,
          planner: str(d.planner),
          text: str(d.text),
          calls: Array.isArray(d.calls)
            ? d.calls.flatMap((c) => (obj(c) ? [{ name: str(obj(c)!.name) ?? '?', args: obj(c)!.args ?? null }] : []))
            : [],
        });
        break;
      case 'call.proposed': {
        const call = callOf(d);
        if (call) {
          call.proposedAt = entry.time;
          call.args = d.args ?? call.args;
          const args = obj(d.args);
          addModel(models, str(args?.model), str(args?.version), 'argument');
        }
        break;
      }
      case 'policy.decision': {
        const call = callOf(d);
        const decision = obj(d.decision);
        call?.decisions.push({
          seq: entry.seq,
          time: entry.time,
          effect: str(decision?.effect) ?? '?',
          ruleId: str(decision?.ruleId),
          reason: str(decision?.reason) ?? '',
          policy: str(decision?.policy),
          risk: obj(d.risk),
        });
        break;
      }
      case 'approval.requested': {
        const a = approvalOf(str(d.approvalId) ?? `seq-${entry.seq}`);
        Object.assign(a, {
          callId: str(d.callId),
          tool: str(d.tool),
          requestedAt: entry.time,
          requestedBy: entry.principal,
          required: obj(d.required),
          expiresAt: str(d.expiresAt),
        });
        const call = a.callId ? calls.get(a.callId) : undefined;
        if (call && !call.approvals.includes(a.approvalId)) call.approvals.push(a.approvalId);
        break;
      }
      case 'approval.vote': {
        const a = approvalOf(str(d.approvalId) ?? '?');
        a.votes.push({
          seq: entry.seq,
          time: entry.time,
          by: str(d.approver) ?? entry.principal,
          verdict: str(d.verdict) ?? '?',
          roles: Array.isArray(d.roles) ? d.roles.filter((r): r is string => typeof r === 'string') : [],
          via: str(d.via),
          comment: str(d.comment),
        });
        break;
      }
      case 'execution.finished':
      case 'execution.failed': {
        const call = callOf(d);
        if (call)
          call.result = {
            seq: entry.seq,
            time: entry.time,
            kind: entry.kind,
            summary: str(d.summary),
            output: d.output ?? null,
            error: d.error ?? null,
          };
        const output = obj(d.output);
        if (output) readOutput(record, models, call, output, entry.seq);
        break;
      }
      case 'run.finished':
        record.outcome = { status: str(d.status) ?? '?', answer: str(d.answer), seq: entry.seq, time: entry.time };
        break;
      default:
        if (entry.kind.startsWith('approval.') && str(d.approvalId)) {
          approvalOf(str(d.approvalId)!).outcomes.push({
            seq: entry.seq,
            time: entry.time,
            kind: entry.kind.slice('approval.'.length),
            by: entry.principal,
            detail: str(d.resolution) ?? str(d.reason),
          });
        }
    }
  }
  record.calls = [...calls.values()];
  record.approvals = [...approvals.values()];
  record.models = [...models.values()];
  return record;
}

/** Data verdicts, model versions and canaries, from a tool's output by its shape. */
function readOutput(
  record: RunRecord,
  models: Map<string, ModelMention>,
  call: CallRecord | null,
  output: Json,
  seq: number,
): void {
  if (Array.isArray(output.findings) && str(output.dataset)) {
    const verdict = obj(output.verdict);
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
    record.dataQuality.push({
      seq,
      dataset: str(output.dataset)!,
      dataVersion: str(output.dataVersion),
      contract: str(obj(output.contract)?.name),
      reportHash: str(output.reportHash),
      reference: str(output.reference),
      rows: num(output.rows),
      passed: bool(output.passed),
      verdict: verdict
        ? {
            failedChecks: strings(verdict.failedChecks),
            softFailures: strings(verdict.softFailures),
            driftOnly: bool(verdict.driftOnly),
            drifted: bool(verdict.drifted),
          }
        : null,
      violations: Array.isArray(output.violations)
        ? output.violations.flatMap((v) => {
            const o = obj(v);
            return o
              ? [
                  {
                    rule: str(o.rule) ?? '?',
                    severity: str(o.severity) ?? '?',
                    column: str(o.column),
                    rowsAffected: num(o.rowsAffected),
                    message: str(o.message) ?? '',
                  },
                ]
              : [];
          })
        : [],
      checkedAt: str(output.checkedAt),
      findings: output.findings.flatMap((f) => {
        const o = obj(f);
        return o
          ? [
              {
                check: str(o.check) ?? '?',
                column: str(o.column),
                value: o.value ?? null,
                threshold: num(o.threshold),
                severity: str(o.severity) ?? '?',
                message: str(o.message) ?? '',
              },
            ]
          : [];
      }),
    });
  }
  const args = obj(call?.args);
  // A training job's result: the version it registered from the data it was given.
  if (str(output.jobId) && str(output.version)) {
    addModel(models, str(args?.model), str(output.version), 'trained', {
      dataset: str(args?.dataset),
      metrics: obj(output.metrics) as Record<string, number> | null,
      promotable: bool(output.promotable),
      failedQualityGates: Array.isArray(output.failedQualityGates) ? output.failedQualityGates : null,
      trainingJobId: str(output.jobId),
    });
  }
  const comparison = obj(output.comparison);
  if (comparison) for (const side of Object.values(comparison)) readVersionRecord(models, obj(side), 'compared');
  if (Array.isArray(output.versions)) for (const v of output.versions) readVersionRecord(models, obj(v), 'listed');
  if (str(output.model) && str(output.version) && str(output.dataVersion)) readVersionRecord(models, output, 'listed');
  if (str(output.model) && str(output.environment) && ('stableVersion' in output || 'canaryVersion' in output)) {
    const model = str(output.model)!;
    addModel(models, model, str(output.stableVersion), 'stable');
    addModel(models, model, str(output.canaryVersion), 'canary');
    const analyses = analysesOf(output.analyses);
    if (analyses.length > 0 || str(output.status)) {
      record.canaries.push({
        seq,
        model,
        environment: str(output.environment)!,
        stableVersion: str(output.stableVersion),
        canaryVersion: str(output.canaryVersion),
        status: str(output.status),
        reason: str(output.reason),
        analyses,
      });
    }
  }
}
