// A run's audit entries as the gate, the loop and the approvals service write them (the
// shapes of a drift incident: data check, retrain, canary, an approved promotion), for
// evidence tests that need a realistic record without running the lab.
import type { AuditEntry, AuditLog } from '../../src/audit/index.js';

const analysis = (at: string, trafficPercent: number, psi: number, passed = true) => ({
  at,
  trafficPercent,
  passed,
  checks: [
    { check: 'canary_requests', canary: 150, stable: 2600, threshold: 150, passed: true },
    {
      check: 'error_rate',
      canary: 0,
      stable: 0,
      threshold: 0.01,
      passed: true,
      bound: -0.002,
      samples: { canary: 150, stable: 2600 },
    },
    {
      check: 'score_psi',
      canary: psi,
      stable: 0,
      threshold: 1,
      passed,
      bound: psi / 2,
      samples: { canary: 150, stable: 2600 },
    },
  ],
});

/** Appends one run's entries; `between` is called between steps (to interleave other runs). */
export async function appendDriftRun(
  log: AuditLog,
  runId: string,
  between: () => Promise<unknown> = async () => undefined,
): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  const add = async (principal: string, kind: string, data: Record<string, unknown>) => {
    out.push(await log.append({ runId, principal, kind, data }));
    await between();
  };
  const agent = 'agent:alertmanager';
  await add(agent, 'run.started', {
    trigger: {
      kind: 'alert',
      text: 'ModelDriftDetected firing: <script>alert("x")</script> drift on credit_utilization',
      alertName: 'ModelDriftDetected',
      data: { labels: { model: 'credit-risk' } },
    },
  });
  await add(agent, 'planner.turn', {
    planner: 'runbook:drift-retrain',
    text: '[runbook drift-retrain step check] Check the recent data.',
    calls: [{ id: 'call_1', name: 'check_data_quality', args: { dataset: 'credit-recent' } }],
    usage: { input: 0, output: 0 },
  });
  await add(agent, 'call.proposed', {
    callId: 'call_1',
    tool: 'check_data_quality',
    args: { dataset: 'credit-recent' },
  });
  await add(agent, 'policy.decision', {
    callId: 'call_1',
    tool: 'check_data_quality',
    args: { dataset: 'credit-recent' },
    risk: { environment: 'none' },
    decision: {
      effect: 'allow',
      ruleId: 'allow-reads',
      reason: 'Read-only tools change nothing in the world.',
      policy: 'default',
    },
    shadow: null,
  });
  await add(agent, 'execution.finished', {
    callId: 'call_1',
    tool: 'check_data_quality',
    summary: 'credit-recent: 4000 rows, 1 alert(s)',
    output: {
      dataset: 'credit-recent',
      dataVersion: 'd'.repeat(64),
      contract: { name: 'credit', file: 'contracts/credit.yaml', hash: 'c'.repeat(64) },
      reference: 'credit-train',
      rows: 4000,
      checkedAt: '2026-12-01T10:00:01.000Z',
      violations: [
        {
          rule: 'income.range',
          severity: 'soft',
          column: 'income',
          rowsAffected: 3,
          examples: [],
          message: '3 rows have income above 10000000',
          source: 'contracts/credit.yaml:12',
        },
      ],
      verdict: { passed: true, failedChecks: [], softFailures: ['income.range'], driftOnly: false, drifted: true },
      reportHash: 'e'.repeat(64),
      reused: false,
      passed: true,
      findings: [
        {
          check: 'psi',
          column: 'credit_utilization',
          value: 2.2,
          threshold: 0.25,
          severity: 'alert',
          message: 'PSI of "credit_utilization" is 2.2',
        },
        {
          check: 'psi',
          column: 'income',
          value: 0.23,
          threshold: 0.1,
          severity: 'warn',
          message: 'PSI of "income" is 0.23',
        },
        {
          check: 'ks',
          column: 'income',
          value: 0.19,
          threshold: 0.1,
          severity: 'warn',
          message: 'KS of "income" is 0.19',
        },
      ],
    },
  });
  await add(agent, 'call.proposed', {
    callId: 'call_2',
    tool: 'trigger_retrain',
    args: { model: 'credit-risk', dataset: 'credit-recent', searchTrials: 4 },
  });
  await add(agent, 'policy.decision', {
    callId: 'call_2',
    tool: 'trigger_retrain',
    args: {},
    risk: {},
    decision: {
      effect: 'allow',
      ruleId: 'allow-retrain',
      reason: 'Retraining changes nothing that is served.',
      policy: 'default',
    },
    shadow: null,
  });
  await add(agent, 'execution.finished', {
    callId: 'call_2',
    tool: 'trigger_retrain',
    summary: 'job job-1 registered v2 (AUC 0.8971, promotable)',
    output: {
      jobId: 'job-1',
      status: 'succeeded',
      version: '2',
      error: null,
      metrics: { auc: 0.8971, calibration_error: 0.025 },
      failedQualityGates: [],
      promotable: true,
    },
  });
  await add(agent, 'call.proposed', {
    callId: 'call_3',
    tool: 'deploy_canary',
    args: { model: 'credit-risk', version: '2', environment: 'production', trafficPercent: 100 },
  });
  await add(agent, 'policy.decision', {
    callId: 'call_3',
    tool: 'deploy_canary',
    args: {},
    risk: { environment: 'production', trafficPercent: 100 },
    decision: {
      effect: 'require_approval',
      ruleId: 'approve-production-full-promotion',
      reason: 'Sending 100% of production traffic to a new version needs an ML lead and a risk officer.',
      policy: 'default',
    },
    shadow: null,
  });
  await add(agent, 'approval.requested', {
    approvalId: 'apr_1',
    callId: 'call_3',
    tool: 'deploy_canary',
    argsHash: 'a'.repeat(64),
    required: { roles: ['ml-leads', 'risk-officers'], count: 2, eachRole: true },
    expiresAt: '2026-12-01T14:00:00.000Z',
  });
  await add('user:alice', 'approval.vote', {
    approvalId: 'apr_1',
    approver: 'user:alice',
    verdict: 'grant',
    via: 'slack',
    comment: 'canary held for 2 analyses',
    roles: ['ml-leads'],
  });
  await add('user:carol', 'approval.vote', {
    approvalId: 'apr_1',
    approver: 'user:carol',
    verdict: 'grant',
    via: 'cli',
    comment: null,
    roles: ['risk-officers'],
  });
  await add('user:carol', 'approval.granted', {
    approvalId: 'apr_1',
    tool: 'deploy_canary',
    resolution: 'granted by user:alice and user:carol',
  });
  await add(agent, 'approval.consumed', { approvalId: 'apr_1', callId: 'call_3', tool: 'deploy_canary' });
  await add(agent, 'execution.finished', {
    callId: 'call_3',
    tool: 'deploy_canary',
    summary: 'credit-risk production: canary v2 at 100% of target 100%, promoted',
    output: {
      model: 'credit-risk',
      environment: 'production',
      stableVersion: '1',
      canaryVersion: '2',
      canaryPercent: 100,
      targetPercent: 100,
      status: 'promoted',
      reason: 'canary 2 passed every step and was promoted',
      analyses: [
        analysis('2026-12-01T10:05:00.000Z', 5, 0.4),
        analysis('2026-12-01T10:06:00.000Z', 25, 0.32),
        analysis('2026-12-01T10:07:00.000Z', 100, 0.3),
      ],
    },
  });
  await add(agent, 'run.finished', {
    status: 'succeeded',
    answer: 'Runbook drift-retrain completed: promoted credit-risk v2.',
  });
  return out;
}
