// A training service speaking the http trainer's protocol (README, "Connect your stack"):
// POST /jobs starts a job under the jobId it is given (a repeated id is the same job),
// GET /jobs/:id reports it. Each status read moves a job one step: queued, running, done.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServiceJob {
  jobId: string;
  model: string;
  dataset: string;
  idempotencyKey: string | null;
  reads: number;
}

export interface TrainingService {
  url: string;
  jobs: Map<string, ServiceJob>;
  posts: { body: Record<string, unknown>; idempotencyKey: string | undefined }[];
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return JSON.parse(text) as Record<string, unknown>;
}

export async function startTrainingService(options: { token: string }): Promise<TrainingService> {
  const jobs = new Map<string, ServiceJob>();
  const posts: TrainingService['posts'] = [];
  const versions = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const send = (status: number, payload: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(payload));
    };
    if (req.headers.authorization !== `Bearer ${options.token}`) return send(401, { error: 'bad token' });
    void (async () => {
      if (req.method === 'POST' && req.url === '/jobs') {
        const b = await body(req);
        posts.push({ body: b, idempotencyKey: req.headers['idempotency-key'] as string | undefined });
        if (b.dataset === 'missing') return send(422, { error: `dataset "missing" not found in the feature store` });
        const jobId = String(b.jobId);
        if (!jobs.has(jobId))
          jobs.set(jobId, {
            jobId,
            model: String(b.model),
            dataset: String(b.dataset),
            idempotencyKey: (b.idempotencyKey as string | null) ?? null,
            reads: 0,
          });
        return send(202, { jobId, status: 'queued' });
      }
      const m = /^\/jobs\/([^/]+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && m) {
        const job = jobs.get(decodeURIComponent(m[1]!));
        if (!job) return send(404, { error: 'no such job' });
        job.reads += 1;
        if (job.reads <= 1) return send(200, { status: 'queued', progress: 0 });
        if (job.reads === 2) return send(200, { status: 'running', progress: 0.5 });
        if (job.dataset === 'broken') return send(200, { status: 'failed', error: 'label column "default" missing' });
        if (job.reads === 3) {
          const v = (versions.get(job.model) ?? 0) + 1;
          versions.set(job.model, v);
        }
        return send(200, {
          status: 'succeeded',
          progress: 1,
          version: String(versions.get(job.model)),
          runId: `run-${job.jobId}`,
        });
      }
      send(404, { error: 'not found' });
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    jobs,
    posts,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
