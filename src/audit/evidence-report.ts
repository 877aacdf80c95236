// The evidence bundle as one self-contained HTML page an auditor can open offline: the
// verification result, the timeline, who approved what, data and model lineage, and the
// canary analyses and drift as inline SVG charts. No script, no request leaves the page.
import type { BundleVerification, EvidenceBundle } from './evidence-bundle.js';
import {
  emptyRunRecord,
  type CanaryRecord,
  type DataVerdict,
  type ModelMention,
  type RunRecord,
} from './evidence-facts.js';
import { barChart, esc, fmt, lineChart, lineageDiagram, type LineageNode } from './report-charts.js';

const STYLE = `
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1100px;color:#1d2733;line-height:1.4}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5dde6;padding-bottom:4px}
h3{font-size:14px;margin:16px 0 6px}table{border-collapse:collapse;width:100%;font-size:13px;margin:6px 0}
th,td{border:1px solid #d5dde6;padding:4px 6px;text-align:left;vertical-align:top}th{background:#f2f5f8}
code,pre{font-family:ui-monospace,Menlo,monospace;font-size:12px}pre{white-space:pre-wrap;word-break:break-word;margin:0}
.status{padding:10px 14px;border-radius:6px;margin:12px 0;font-size:14px}.proven{background:#e8f6ef;border:1px solid #4f9d73}
.not_covered{background:#fff6e0;border:1px solid #d6a330}.broken{background:#fdecea;border:1px solid #c0392b}
.muted{color:#5b6b7b;font-size:12px}.allow,.grant,.granted,.succeeded,.promoted{color:#1e7b4a;font-weight:600}
.deny,.denied,.failed,.rolled_back,.refused{color:#b03a2e;font-weight:600}.require_approval,.waiting_approval,.paused{color:#a0660a;font-weight:600}
.charts{display:flex;flex-wrap:wrap;gap:12px}.charts svg{border:1px solid #e3e8ee;border-radius:4px;background:#fff}
`;

const json = (v: unknown): string => esc(JSON.stringify(v) ?? 'null');
const cls = (v: string | null | undefined): string => esc((v ?? '').replace(/[^a-z_]/gi, ''));
const short = (hash: string | null | undefined): string => (hash ? `${hash.slice(0, 12)}…` : '–');

function statusBox(bundle: EvidenceBundle, v: BundleVerification): string {
  const cp = bundle.proof.checkpoint;
  const head =
    v.status === 'proven'
      ? `Verified: entries ${bundle.proof.firstSeq} to ${bundle.proof.lastSeq} are exactly as checkpoint seq ${cp!.seq} states, signed by key ${cp!.keyId} at ${cp!.time} (${cp!.writer}).`
      : v.status === 'not_covered'
        ? 'Not proven: the entries chain together, but no signed checkpoint that verifies with the given public key covers them.'
        : 'BROKEN: this bundle does not verify.';
  const items = [...v.problems.map((p) => `problem: ${p}`), ...v.notes.map((n) => `note: ${n}`)]
    .map((t) => `<li>${esc(t)}</li>`)
    .join('');
  return `<div class="status ${v.status}"><strong>${esc(head)}</strong>${items ? `<ul>${items}</ul>` : ''}</div>`;
}

function callsTable(record: RunRecord): string {
  if (record.calls.length === 0) return '<p class="muted">No tool calls.</p>';
  const rows = record.calls
    .map((c) => {
      const decisions = c.decisions
        .map(
          (d) =>
            `<span class="${cls(d.effect)}">${esc(d.effect)}</span> by <code>${esc(d.ruleId ?? '(no rule)')}</code>: ${esc(d.reason)}`,
        )
        .join('<br>');
      const result = c.result
        ? `<span class="${c.result.kind === 'execution.failed' ? 'failed' : 'succeeded'}">${esc(c.result.kind.replace('execution.', ''))}</span> ${esc(c.result.summary ?? (typeof c.result.error === 'string' ? c.result.error : ''))}`
        : '<span class="muted">not executed</span>';
      return `<tr><td><code>${esc(c.callId)}</code></td><td><strong>${esc(c.tool)}</strong><pre>${json(c.args)}</pre></td><td>${decisions || '–'}</td><td>${c.approvals.map((a) => `<code>${esc(a)}</code>`).join('<br>') || '–'}</td><td>${result}</td></tr>`;
    })
    .join('');
  return `<table><tr><th>call</th><th>tool and arguments</th><th>policy decision (rule, reason)</th><th>approval</th><th>result</th></tr>${rows}</table>`;
}

function approvalsSection(record: RunRecord): string {
  if (record.approvals.length === 0) return '<p class="muted">No approvals were needed.</p>';
  return record.approvals
    .map((a) => {
      const required = a.required
        ? `needs ${esc(a.required.count ?? '?')} of ${esc(Array.isArray(a.required.roles) ? a.required.roles.join(', ') : '?')}`
        : '';
      const votes = a.votes
        .map(
          (v) =>
            `<tr><td>${esc(v.by)}</td><td class="${cls(v.verdict)}">${esc(v.verdict)}</td><td>${esc(v.roles.join(', '))}</td><td>${esc(v.via ?? '')}</td><td>${esc(v.time)}</td><td>${esc(v.comment ?? '')}</td></tr>`,
        )
        .join('');
      const outcomes = a.outcomes
        .map(
          (o) =>
            `<li><span class="${cls(o.kind)}">${esc(o.kind)}</span> at ${esc(o.time)} (${esc(o.by)})${o.detail ? `: ${esc(o.detail)}` : ''}</li>`,
        )
        .join('');
      return (
        `<h3>${esc(a.tool ?? '?')} <code>${esc(a.approvalId)}</code></h3><p>Requested by ${esc(a.requestedBy ?? '?')} at ${esc(a.requestedAt ?? '?')} for call <code>${esc(a.callId ?? '?')}</code>; ${required}; expires ${esc(a.expiresAt ?? '–')}.</p>` +
        `<table><tr><th>who</th><th>verdict</th><th>roles</th><th>via</th><th>when</th><th>comment</th></tr>${votes || '<tr><td colspan="6" class="muted">no votes</td></tr>'}</table>${outcomes ? `<ul>${outcomes}</ul>` : ''}`
      );
    })
    .join('');
}

function lineageSection(record: RunRecord, bundle: EvidenceBundle): string {
  const nodes: LineageNode[] = [];
  const edges: { from: string; to: string; label: string }[] = [];
  const registry = new Map(
    (bundle.context.registry?.versions ?? []).map((v) => [`${String(v.model)}@${String(v.version)}`, v]),
  );
  const dataId = (dataset: string, version: string | null) => `d:${dataset}@${version ?? '?'}`;
  const addData = (dataset: string, version: string | null, verdict: DataVerdict | undefined) => {
    const id = dataId(dataset, version);
    if (!nodes.some((n) => n.id === id))
      nodes.push({
        id,
        label: dataset,
        sub: `${short(version)}${verdict ? (verdict.passed ? ' · checks passed' : ' · checks failed') : ''}`,
        column: 0,
        tone: verdict ? (verdict.passed ? 'ok' : 'bad') : 'neutral',
      });
    return id;
  };
  for (const d of record.dataQuality) addData(d.dataset, d.dataVersion, d);
  const models: ModelMention[] = record.models;
  for (const m of models) {
    const reg = registry.get(`${m.model}@${m.version}`);
    const dataset = m.dataset ?? (typeof reg?.dataset === 'string' ? reg.dataset : null);
    const dataVersion = m.dataVersion ?? (typeof reg?.dataVersion === 'string' ? reg.dataVersion : null);
    const id = `m:${m.model}@${m.version}`;
    const promotable = m.promotable ?? (typeof reg?.promotable === 'boolean' ? reg.promotable : null);
    nodes.push({
      id,
      label: `${m.model} v${m.version}`,
      sub: `${m.roles.join(', ')}${promotable === false ? ' · not promotable' : ''}`,
      column: 1,
      tone: promotable === false ? 'bad' : 'neutral',
    });
    if (dataset)
      edges.push({
        from: addData(
          dataset,
          dataVersion,
          record.dataQuality.find(
            (d) => d.dataset === dataset && (dataVersion === null || d.dataVersion === dataVersion),
          ),
        ),
        to: id,
        label: 'trained on',
      });
  }
  for (const c of latestRollouts(record.canaries)) {
    const id = `s:${c.model}/${c.environment}/${c.canaryVersion}`;
    nodes.push({
      id,
      label: `${c.model} ${c.environment}`,
      sub: `${c.status ?? '?'}${c.canaryVersion ? ` · canary v${c.canaryVersion}` : ''}`,
      column: 2,
      tone: c.status === 'rolled_back' ? 'bad' : c.status === 'promoted' ? 'ok' : 'neutral',
    });
    if (c.canaryVersion) edges.push({ from: `m:${c.model}@${c.canaryVersion}`, to: id, label: 'canary' });
  }
  const table = models
    .map((m) => {
      const reg = registry.get(`${m.model}@${m.version}`);
      const metrics = m.metrics ?? (reg?.metrics as Record<string, number> | undefined) ?? null;
      const report = m.dataQualityReport ?? (typeof reg?.dataQualityReport === 'string' ? reg.dataQualityReport : null);
      const checked = report ? record.dataQuality.find((d) => d.reportHash === report) : undefined;
      // "never checked" only when the registry says so; unknown otherwise.
      const dataReport = report
        ? `<code>${esc(short(report))}</code>${checked ? ` <span class="${checked.passed ? 'succeeded' : 'failed'}">${checked.passed ? 'passed' : 'failed'}</span>` : ''}`
        : reg && reg.dataQualityReport === null
          ? 'never checked'
          : '–';
      return `<tr><td>${esc(m.model)} v${esc(m.version)}</td><td>${esc(m.roles.join(', '))}</td><td>${esc(m.dataset ?? String(reg?.dataset ?? '–'))}</td><td><code>${esc(short(m.dataVersion ?? (reg?.dataVersion as string | undefined)))}</code></td><td>${dataReport}</td><td>${esc(
        metrics
          ? Object.entries(metrics)
              .filter(([k]) => ['auc', 'calibration_error', 'parity_gap'].includes(k))
              .map(([k, v]) => `${k} ${fmt(v)}`)
              .join(', ')
          : '–',
      )}</td><td>${esc(m.trainingJobId ?? String(reg?.trainingJobId ?? '–'))}</td><td>${esc(String(reg?.codeVersion ?? '–'))}</td><td>${reg ? 'registry' : 'audit only'}</td></tr>`;
    })
    .join('');
  const verdicts = record.dataQuality
    .map((d) => {
      const verdict = `${d.passed ? 'passed' : 'failed'}${d.verdict?.driftOnly ? ' (drift only)' : ''}`;
      const broken =
        d.violations
          .map((v) => `${esc(v.rule)} (${esc(v.severity)}${v.rowsAffected ? `, ${esc(v.rowsAffected)} rows` : ''})`)
          .join('<br>') || '–';
      return `<tr><td>${esc(d.dataset)}</td><td><code>${esc(short(d.dataVersion))}</code></td><td>${esc(d.rows ?? '–')}</td><td>${esc(d.contract ?? '–')}</td><td class="${d.passed ? 'succeeded' : 'failed'}">${esc(verdict)}</td><td>${broken}</td><td>${esc(d.findings.filter((f) => f.severity === 'alert').length)} alert(s), ${esc(d.findings.filter((f) => f.severity === 'warn').length)} warning(s)</td><td><code>${esc(short(d.reportHash))}</code></td></tr>`;
    })
    .join('');
  return (
    (nodes.length > 0
      ? lineageDiagram(nodes, edges)
      : '<p class="muted">The run touched no data or model versions.</p>') +
    (verdicts
      ? `<h3>Data-quality verdicts (from the run's entries)</h3><table><tr><th>dataset</th><th>data version</th><th>rows</th><th>contract</th><th>verdict</th><th>rules broken</th><th>drift</th><th>report</th></tr>${verdicts}</table>`
      : '') +
    (table
      ? `<h3>Model versions</h3><table><tr><th>version</th><th>in this run</th><th>trained on</th><th>data version</th><th>data report</th><th>metrics</th><th>training job</th><th>code</th><th>source</th></tr>${table}</table>`
      : '')
  );
}

function driftSection(record: RunRecord): string {
  const charts = record.dataQuality.flatMap((d) => {
    const byCheck = new Map<string, DataVerdict['findings']>();
    for (const f of d.findings)
      if (typeof f.value === 'number') byCheck.set(f.check, [...(byCheck.get(f.check) ?? []), f]);
    return [...byCheck].map(([check, findings]) =>
      barChart(
        `${d.dataset} (${short(d.dataVersion)}): ${check}`,
        findings.map((f) => ({
          label: f.column ?? check,
          value: f.value as number,
          threshold: f.threshold,
          severity: f.severity,
        })),
      ),
    );
  });
  return charts.length > 0
    ? `<div class="charts">${charts.join('')}</div>`
    : '<p class="muted">No drift statistics were recorded in this run.</p>';
}

/** A rollout reports all its analyses each time it is asked: keep each rollout's latest report. */
function latestRollouts(canaries: readonly CanaryRecord[]): CanaryRecord[] {
  const latest = new Map<string, CanaryRecord>();
  for (const c of canaries) latest.set(`${c.model}/${c.environment}/${c.canaryVersion}`, c);
  return [...latest.values()];
}

function canarySection(canaries: readonly CanaryRecord[]): string {
  const withAnalyses = latestRollouts(canaries).filter((c) => c.analyses.length > 0);
  if (withAnalyses.length === 0) return '<p class="muted">No canary analyses were recorded in this run.</p>';
  return withAnalyses
    .map((c) => {
      const steps = c.analyses.map((a, i) => `${i + 1}: ${a.trafficPercent}%`);
      const checks = [...new Set(c.analyses.flatMap((a) => a.checks.map((k) => k.check)))];
      const charts = checks.map((name) => {
        const per = c.analyses.map((a) => a.checks.find((k) => k.check === name));
        const hasBound = per.some((k) => typeof k?.bound === 'number');
        const series = [
          { name: 'canary', values: per.map((k) => (k ? k.canary : null)), color: '#c0392b' },
          { name: 'stable', values: per.map((k) => (k ? k.stable : null)), color: '#2874a6' },
          ...(hasBound
            ? [
                {
                  name: 'bound',
                  values: per.map((k) => (typeof k?.bound === 'number' ? k.bound : null)),
                  color: '#7d3c98',
                },
              ]
            : []),
        ];
        return lineChart(name, steps, series, {
          threshold: per.find((k) => k)?.threshold ?? null,
          failed: per.map((k) => k?.passed === false),
        });
      });
      const rows = c.analyses
        .map(
          (a, i) =>
            `<tr><td>${i + 1}</td><td>${esc(a.at)}</td><td>${esc(a.trafficPercent)}%</td><td class="${a.passed ? 'succeeded' : 'failed'}">${a.passed ? 'passed' : 'failed'}</td><td>${a.checks.map((k) => `${esc(k.check)} ${k.passed ? '✓' : '✗'} (canary ${esc(fmt(k.canary))}, stable ${esc(fmt(k.stable))}${typeof k.bound === 'number' ? `, bound ${esc(fmt(k.bound))}` : ''}, threshold ${esc(fmt(k.threshold))})`).join('<br>')}</td></tr>`,
        )
        .join('');
      return `<h3>${esc(c.model)} in ${esc(c.environment)}: canary v${esc(c.canaryVersion ?? '?')} against stable v${esc(c.stableVersion ?? '?')}, <span class="${cls(c.status)}">${esc(c.status ?? '?')}</span></h3><p class="muted">${esc(c.reason ?? '')}</p><div class="charts">${charts.join('')}</div><table><tr><th>#</th><th>at</th><th>traffic</th><th>analysis</th><th>checks</th></tr>${rows}</table>`;
    })
    .join('');
}

function lastHash(lines: readonly string[]): string {
  try {
    return String((JSON.parse(lines.at(-1) ?? '{}') as { hash?: unknown }).hash ?? '–');
  } catch {
    return '(unreadable)';
  }
}

export function renderEvidenceReport(bundle: EvidenceBundle, verification: BundleVerification): string {
  // What the proof's own entries say, never the bundle's copy of it.
  const r = verification.record ?? emptyRunRecord(bundle.runId);
  const trigger = r.trigger ?? {};
  const principal = r.startedBy;
  const timeline = r.timeline
    .map(
      (t) =>
        `<tr><td>${esc(t.seq)}</td><td>${esc(t.time)}</td><td><code>${esc(t.kind)}</code></td><td>${esc(t.principal)}</td><td>${esc(t.summary)}</td></tr>`,
    )
    .join('');
  const turns = r.turns
    .map(
      (t, i) =>
        `<tr><td>${i + 1}</td><td>${esc(t.time)}</td><td>${esc(t.planner ?? '')}</td><td>${esc(t.text ?? '')}</td><td>${t.calls.map((c) => `<code>${esc(c.name)}</code>`).join(', ')}</td></tr>`,
    )
    .join('');
  const context = bundle.context.run
    ? `<p class="muted">Run store at export: status ${esc(bundle.context.run.status ?? '?')}, planner ${esc(bundle.context.run.planner ?? '?')} (${esc(bundle.context.note)}).</p>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Evidence report: run ${esc(bundle.runId)}</title><style>${STYLE}</style></head><body>
<h1>Evidence report: run ${esc(bundle.runId)}</h1>
<p class="muted">Exported ${esc(bundle.exportedAt)} from ${esc(bundle.source.store)} ${esc(bundle.source.location)}. Every fact below comes from the run's audit entries unless marked as registry context.</p>
${statusBox(bundle, verification)}
<h2>Trigger and outcome</h2>
<table><tr><th>trigger</th><td>${esc(trigger.kind ?? '?')} from ${esc(principal ?? '?')} at ${esc(r.startedAt ?? '?')}</td></tr>
<tr><th>what it said</th><td>${esc(trigger.text ?? '')}</td></tr>
<tr><th>outcome</th><td>${r.outcome ? `<span class="${cls(r.outcome.status)}">${esc(r.outcome.status)}</span> at ${esc(r.outcome.time)}<pre>${esc(r.outcome.answer ?? '')}</pre>` : 'not finished when exported'}</td></tr></table>
${context}
<h2>Tool calls, decisions and results</h2>${callsTable(r)}
<h2>Who approved what</h2>${approvalsSection(r)}
<h2>Data and model lineage</h2>${lineageSection(r, bundle)}
<h2>Drift</h2>${driftSection(r)}
<h2>Canary analyses</h2>${canarySection(r.canaries)}
<h2>Planner turns</h2>${turns ? `<table><tr><th>#</th><th>when</th><th>planner</th><th>reasoning</th><th>calls</th></tr>${turns}</table>` : '<p class="muted">No planner turns.</p>'}
<h2>Timeline</h2><table><tr><th>seq</th><th>time</th><th>kind</th><th>by</th><th>what</th></tr>${timeline}</table>
<h2>Chain proof</h2><p>${esc(bundle.proof.lines.length)} stored entries, seq ${esc(bundle.proof.firstSeq)} to ${esc(bundle.proof.lastSeq)} (other runs' entries in between are included: the chain needs them), ending at hash <code>${esc(lastHash(bundle.proof.lines))}</code>. Check it offline: <code>mlops-agent audit verify --bundle FILE --public-key KEY.pub</code>.</p>
</body></html>
`;
}
