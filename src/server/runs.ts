// POST /v1/chat starts a chat run as the token's principal; GET /v1/runs and
// GET /v1/runs/:id read runs from the run store.
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isOwn } from '../approvals/index.js';
import { RUN_STATUSES, type Run, type RunStatus, type Trigger } from '../agent/run.js';
import type { RunStore } from '../agent/run-store.js';
import type { RunQueue } from '../intake/index.js';
import { readsAll } from './auth.js';
import { invalid } from './errors.js';
import type { ServerMetrics } from './metrics.js';
import type { QueuedRuns } from './queued-runs.js';

const chatBody = z.object({ text: z.string().trim().min(1, 'must not be empty').max(8000) }).strict();
const runsQuery = z.object({ status: z.enum(RUN_STATUSES as [RunStatus, ...RunStatus[]]).optional() }).strict();

function summary(run: Run) {
  return {
    id: run.id,
    status: run.status,
    trigger: {
      kind: run.trigger.kind,
      principal: run.trigger.principal.id,
      requester: run.trigger.principal.requester ?? null,
      text: run.trigger.text,
    },
    planner: run.planner,
    steps: run.steps,
    answer: run.answer,
    error: run.error,
    // What the transcript shows the run did (null for runs stored before summaries), and answer claims it does not back.
    summary: run.summary?.text ?? null,
    flags: run.flags ?? [],
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    endedAt: run.endedAt,
  };
}

export function registerRunRoutes(
  app: FastifyInstance,
  deps: { queue: RunQueue; runs: RunStore; metrics: ServerMetrics; queued: QueuedRuns },
): void {
  app.post('/v1/chat', { config: { scope: 'chat' } }, async (request, reply) => {
    const parsed = chatBody.safeParse(request.body);
    if (!parsed.success) throw invalid('chat request', parsed.error);
    const text = parsed.data.text;
    const principal = request.principal ?? 'anonymous';
    const trigger: Trigger = { kind: 'chat', principal: { id: principal, roles: [] }, text, data: { question: text } };
    const { runId } = await deps.queue.enqueue(trigger);
    deps.metrics.enqueued('chat', false);
    deps.queued.add(runId, trigger);
    request.log.info({ runId, principal }, 'chat run enqueued');
    return reply.code(202).send({ runId });
  });

  app.get('/v1/runs', async (request) => {
    const parsed = runsQuery.safeParse(request.query);
    if (!parsed.success) throw invalid('query', parsed.error);
    const runs = await deps.runs.list(parsed.data.status ? { status: parsed.data.status } : {});
    const all = readsAll(request);
    return { runs: runs.filter((run) => all || isOwn(request.principal, run.trigger.principal)).map(summary) };
  });

  app.get<{ Params: { id: string } }>('/v1/runs/:id', async (request, reply) => {
    const { id } = request.params;
    // Without `read`, another principal's run is answered like an unknown one.
    const visible = (trigger: Trigger) => readsAll(request) || isOwn(request.principal, trigger.principal);
    const run = await deps.runs.get(id);
    if (run && visible(run.trigger))
      return { ...summary(run), fallback: run.fallback, usage: run.usage, transcript: run.transcript };
    const queued = run ? undefined : deps.queued.get(id);
    if (queued && visible(queued.trigger)) {
      const { trigger } = queued;
      return {
        id,
        status: 'queued',
        trigger: {
          kind: trigger.kind,
          principal: trigger.principal.id,
          requester: trigger.principal.requester ?? null,
          text: trigger.text,
        },
        queuedAt: queued.queuedAt,
        transcript: [],
        answer: null,
      };
    }
    return reply.code(404).send({ error: 'not_found', message: `no run ${id}` });
  });
}
