// What /metrics of serve and a worker shows from the first scrape: process metrics, the
// build, counters at 0 for their known labels, a parked run counted once, notices apart
// from runs, HTTP requests by route, audit append latency and pending approvals.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import type { Run } from '../../../src/agent/run.js';
import { createServerMetrics, registerHttpMetrics } from '../../../src/server/metrics.js';

const run = (id: string, status: Run['status']) => ({ id, status, trigger: { kind: 'alert' } }) as unknown as Run;

describe("the agent's /metrics", () => {
  it('starts every known counter at 0 and shows the process and the build', async () => {
    const metrics = createServerMetrics({ depth: async () => 0 }, { tools: ['rollback'], executesRuns: true });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
    expect(text).toMatch(/^mlops_agent_build_info\{version="\d+\.\d+\.\d+",node="v20[^"]*"\} 1$/m);
    expect(text).toContain('mlops_agent_tool_calls_total{tool="rollback",decision="deny"} 0');
    expect(text).toContain('mlops_agent_runs_enqueued_total{trigger="alert",coalesced="false"} 0');
    expect(text).toContain('mlops_agent_runs_settled_total{trigger="alert",outcome="failed"} 0');
    expect(text).toContain('mlops_agent_runs_parked_total{trigger="alert"} 0');
    expect(text).toContain('mlops_agent_alert_notices_total{receiver="alertmanager",incident="resolved"} 0');
    expect(text).toContain('mlops_agent_approvals_pending 0');
  });

  it('counts a run that parks many times once, and its end once', async () => {
    const metrics = createServerMetrics({ depth: async () => 0 }, { executesRuns: true });
    for (const status of ['waiting', 'waiting_approval', 'waiting'] as const) metrics.settled(run('r1', status));
    metrics.settled(run('r1', 'succeeded'));
    const text = await metrics.registry.metrics();
    expect(text).toContain('mlops_agent_runs_parked_total{trigger="alert"} 1');
    expect(text).toContain('mlops_agent_runs_settled_total{trigger="alert",outcome="succeeded"} 1');
  });

  it('counts notices apart from runs, HTTP requests by route, audit appends and pending approvals', async () => {
    const metrics = createServerMetrics({ depth: async () => 0 });
    metrics.notice('alertmanager', 'resolved');
    metrics.notice('alertmanager', 'coalesced');
    metrics.auditAppended(0.002);
    metrics.observeApprovals(async () => 3);
    const app = Fastify();
    registerHttpMetrics(app, metrics);
    app.get('/v1/runs/:id', async () => ({ ok: true }));
    await app.inject({ method: 'GET', url: '/v1/runs/abc' });
    await app.inject({ method: 'GET', url: '/nowhere' });
    await app.close();
    const text = await metrics.registry.metrics();
    expect(text).toContain('mlops_agent_alert_notices_total{receiver="alertmanager",incident="resolved"} 1');
    expect(text).toContain('mlops_agent_alert_notices_total{receiver="alertmanager",incident="coalesced"} 1');
    expect(text).toContain('mlops_agent_runs_enqueued_total{trigger="alert",coalesced="true"} 0');
    expect(text).toContain('mlops_agent_http_requests_total{method="GET",route="/v1/runs/:id",status="200"} 1');
    expect(text).toContain('mlops_agent_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(text).toContain('mlops_agent_audit_append_seconds_count 1');
    expect(text).toContain('mlops_agent_approvals_pending 3');
  });
});
