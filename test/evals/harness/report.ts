// The eval table: one per planner, a row per scenario run, totals and pass rate last.
import type { SuiteReport, ScenarioResult } from './suite.js';

function pad(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s.padEnd(n);
}

function ms(n: number | null): string {
  if (n === null) return '-';
  return n < 1000 ? `${n} ms` : `${(n / 1000).toFixed(1)} s`;
}

function row(r: ScenarioResult): string {
  const failed = r.grades.find((g) => !g.passed);
  const verdict = r.passed ? 'pass' : `FAIL ${failed!.assertion}: ${failed!.detail}`;
  const name = `${r.scenario}${r.repeat > 1 ? ` #${r.repeat}` : ''}`;
  return `${pad(name, 34)} ${pad(r.script ?? '', 17)} ${String(r.toolCalls).padStart(5)} ${String(r.tokensIn).padStart(7)} ${String(r.tokensOut).padStart(7)} ${ms(r.mitigationMs).padStart(10)} ${ms(r.durationMs).padStart(8)}  ${verdict}`;
}

export function formatReport(report: SuiteReport): string {
  const lines: string[] = [];
  const planners = [...new Set(report.results.map((r) => r.planner))];
  for (const planner of planners) {
    const results = report.results.filter((r) => r.planner === planner);
    lines.push(`planner: ${planner}`);
    lines.push(
      `${pad('scenario', 34)} ${pad('script', 17)} ${'calls'.padStart(5)} ${'tok in'.padStart(7)} ${'tok out'.padStart(7)} ${'mitigation'.padStart(10)} ${'time'.padStart(8)}  result`,
    );
    for (const r of results) lines.push(row(r));
    const passed = results.filter((r) => r.passed).length;
    const sum = (f: (r: ScenarioResult) => number) => results.reduce((n, r) => n + f(r), 0);
    lines.push(
      `${pad('total', 34)} ${pad('', 17)} ${String(sum((r) => r.toolCalls)).padStart(5)} ${String(sum((r) => r.tokensIn)).padStart(7)} ${String(sum((r) => r.tokensOut)).padStart(7)} ${''.padStart(10)} ${ms(sum((r) => r.durationMs)).padStart(8)}  ${passed}/${results.length} passed (${((100 * passed) / results.length).toFixed(0)}%)`,
    );
    lines.push('');
  }
  for (const s of report.skipped) lines.push(`planner: ${s.planner}: ${s.reason}`);
  const all = report.results.length;
  const passed = report.results.filter((r) => r.passed).length;
  lines.push(
    all
      ? `all planners: ${passed}/${all} passed (${((100 * passed) / all).toFixed(0)}%)`
      : 'all planners: no scenario ran',
  );
  return lines.join('\n');
}
