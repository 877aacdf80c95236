// `mlops-agent approvals list|show|approve|deny`: deciding parked calls from a terminal,
// through a running `serve` (MLOPS_AGENT_URL), as whoever the token stands for.
import { Command, Option } from 'commander';
import { APPROVAL_STATUSES, type Approval, type ApprovalStatus } from '../approvals/index.js';
import type { Config } from '../app/config.js';
import { formatOf, outputOption, renderListing, type Column, type OutputFormat } from './output/listing.js';
import { dim, status } from './output/style.js';
import { createServerClient } from './server-client.js';
import { jsonSafe, terminalSafe } from './terminal-safe.js';

type ApprovalView = Approval & { stillNeeded: string };

function risk(a: Approval): string {
  const r = a.risk;
  const delta = r.qualityDelta === 0 ? '0' : `${r.qualityDelta > 0 ? '+' : ''}${r.qualityDelta.toFixed(4)}`;
  // Approvals stored before risk.data existed have none.
  const d = r.data;
  const data = !d?.dataset
    ? ''
    : `, data ${d.dataset} ${!d.checked ? 'NEVER CHECKED' : d.passed ? `passed${d.driftOnly ? ' (drift only)' : ` (soft: ${d.softFailures.join(', ')})`}` : `FAILED ${d.failedChecks.join(', ')}`}`;
  return `${r.environment}, traffic ${r.trafficPercent}% (${r.trafficChangePercent >= 0 ? '+' : ''}${r.trafficChangePercent} pts), quality delta ${delta}, failed gates ${r.failedQualityGates.join(', ') || 'none'}, ${r.reversible ? 'reversible' : 'NOT reversible'}${data}`;
}

const APPROVAL_COLUMNS: Column<ApprovalView>[] = [
  { header: 'CREATED', value: (a) => a.createdAt.replace('T', ' ').slice(0, 19), style: dim },
  { header: 'ID', value: (a) => a.id },
  { header: 'STATUS', value: (a) => a.status, style: (text, a) => status(a.status, text) },
  { header: 'TOOL', value: (a) => a.tool },
  { header: 'ARGS', value: (a) => JSON.stringify(a.args), max: 50 },
  {
    header: 'ASKED BY',
    value: (a) => `${a.requestedBy.id}${a.requestedBy.requester ? ` for ${a.requestedBy.requester}` : ''}`,
    max: 36,
  },
  {
    header: 'NEEDS / RESOLUTION',
    value: (a) => (a.status === 'pending' ? `needs ${a.stillNeeded}` : (a.resolution ?? '')),
    max: 60,
  },
];

export function formatApproval(a: ApprovalView): string {
  const lines = [
    `approval ${a.id}  ${a.status.toUpperCase()}${a.status === 'pending' ? `  (expires ${a.expiresAt})` : ''}`,
    `  tool       ${a.tool} ${JSON.stringify(a.args)}`,
    `  asked by   ${a.requestedBy.id}${a.requestedBy.requester ? ` for ${a.requestedBy.requester} (who triggered the run)` : ''}${a.runId ? ` in run ${a.runId} (${a.callId})` : ' (direct call)'}`,
  ];
  if (a.preview) lines.push(`  change     ${a.preview.now}  ->  ${a.preview.after}`);
  lines.push(`  risk       ${risk(a)}`, `  rule       ${a.rule.id ?? '(none)'}: ${a.rule.reason}`);
  lines.push(
    `  needs      ${a.required.count} of [${a.required.roles.join(', ')}]${a.required.eachRole ? ', one of each role' : ''}; still ${a.stillNeeded}`,
  );
  for (const v of a.votes)
    lines.push(
      `  vote       ${v.by} ${v.verdict === 'grant' ? 'granted' : 'denied'} at ${v.at} via ${v.via}${v.comment ? `: ${v.comment}` : ''}`,
    );
  if (a.resolution) lines.push(`  resolution ${a.resolution}`);
  if (a.outcome) lines.push(`  outcome    ${a.outcome.status}: ${a.outcome.summary}`);
  lines.push(`  args hash  ${a.argsHash}`);
  // What people, alerts and the model wrote is escaped: each line above stays one line.
  return lines.map(terminalSafe).join('\n');
}

export function approvalsCommand(deps: { config: () => Config }): Command {
  const approvals = new Command('approvals')
    .description('list, show and decide calls waiting for approval, through a running serve')
    .addHelpText(
      'after',
      `
The command talks to mlops-agent serve at MLOPS_AGENT_URL (default http://127.0.0.1:<server.port>)
with the token in MLOPS_AGENT_TOKEN (or MLOPS_AGENT_API_TOKEN). You act as that token's
principal; your roles come from the policy's roles: map. The token needs the read scope to
list and show others' approvals, and approve to decide. Exit codes: 0 decided or shown,
1 the decision was refused (not authorised, your own request, already decided), 2 bad
usage or an unknown id, 4 the server cannot be reached.`,
    );
  const client = () => {
    const { url, token } = deps.config().client;
    return createServerClient({ url, token });
  };

  approvals
    .command('list')
    .description('approvals, oldest first (default: pending ones)')
    .addOption(
      new Option('--status <status>', 'only approvals with this status')
        .choices(APPROVAL_STATUSES as string[])
        .default('pending'),
    )
    .option('--all', 'every approval, whatever its status')
    .addOption(outputOption())
    .option('--json', 'the same as -o jsonl (one approval a line; kept for older scripts)')
    .action(async (opts: { status: ApprovalStatus; all?: boolean; output: OutputFormat; json?: boolean }) => {
      const query = opts.all ? '' : `?status=${opts.status}`;
      const { approvals: found } = await client().get<{ approvals: ApprovalView[] }>(`/v1/approvals${query}`);
      process.stdout.write(
        renderListing(
          found,
          formatOf(opts),
          APPROVAL_COLUMNS,
          opts.all ? 'no approvals' : `no ${opts.status} approvals`,
        ),
      );
    });

  approvals
    .command('show')
    .description('one approval: the call, what it would change, risk, rule, votes, outcome')
    .argument('<id>', 'approval id, e.g. apr_mwthl1g5_15aff571')
    .option('--json', 'print it as JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const a = await client().get<ApprovalView>(`/v1/approvals/${encodeURIComponent(id)}`);
      process.stdout.write(opts.json ? `${jsonSafe(JSON.stringify(a, null, 2))}\n` : `${formatApproval(a)}\n`);
    });

  for (const verdict of ['grant', 'deny'] as const) {
    const name = verdict === 'grant' ? 'approve' : 'deny';
    const cmd = approvals
      .command(name)
      .description(verdict === 'grant' ? 'approve the call, exactly as shown' : 'deny the call, saying why')
      .argument('<id>', 'approval id')
      .option('--json', 'print the decided approval as JSON');
    if (verdict === 'deny')
      cmd.requiredOption('--comment <text>', 'why (recorded in the audit log and told to the agent)');
    else cmd.option('--comment <text>', 'a note recorded with your approval');
    cmd.action(async (id: string, opts: { comment?: string; json?: boolean }) => {
      const c = client();
      const path = `/v1/approvals/${encodeURIComponent(id)}`;
      // Decide on exactly what was shown: the arguments hash binds the decision to this call.
      const shown = await c.get<ApprovalView>(path);
      if (!opts.json) process.stdout.write(`${formatApproval(shown)}\n\n`);
      const result = await c.post<{ resolved: boolean; approval: ApprovalView }>(`${path}/decision`, {
        verdict,
        argsHash: shown.argsHash,
        ...(opts.comment ? { comment: opts.comment } : {}),
      });
      const a = result.approval;
      if (opts.json) process.stdout.write(`${jsonSafe(JSON.stringify(a, null, 2))}\n`);
      else if (!result.resolved)
        process.stdout.write(`${terminalSafe(`vote recorded; approval ${a.id} still needs ${a.stillNeeded}`)}\n`);
      else if (a.status === 'granted')
        process.stdout.write(
          `${terminalSafe(`approval ${a.id} ${a.resolution}; the call executes once${a.runId ? ` and run ${a.runId} resumes` : ''}`)}\n`,
        );
      else
        process.stdout.write(
          `${terminalSafe(`approval ${a.id} ${a.resolution}; nothing will be executed${a.runId ? ` and run ${a.runId} is told` : ''}`)}\n`,
        );
    });
  }
  return approvals;
}
