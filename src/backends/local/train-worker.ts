// Entry point of the worker thread that runs one training job, so the agent's event loop
// (HTTP, approvals, audit) stays responsive while the model fits.
import { parentPort, workerData } from 'node:worker_threads';
import { describeError, isAgentError } from '../../errors.js';
import { runTrainingPipeline, type TrainingInput, type TrainingOutcome } from './training-pipeline.js';

export type TrainWorkerMessage =
  | { type: 'progress'; progress: number }
  | { type: 'done'; outcome: TrainingOutcome }
  | { type: 'failed'; message: string; code: string | null };

const port = parentPort;
if (!port) throw new Error('train-worker.js runs as a worker thread started by the local trainer');

const post = (message: TrainWorkerMessage) => port.postMessage(message);

try {
  const outcome = await runTrainingPipeline(workerData as TrainingInput, (progress) =>
    post({ type: 'progress', progress }),
  );
  post({ type: 'done', outcome });
} catch (err) {
  post({ type: 'failed', message: describeError(err), code: isAgentError(err) ? err.code : null });
}
