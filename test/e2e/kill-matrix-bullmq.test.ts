// The kill matrix with BullMQ on Redis: a `worker` is the process killed (see kill-matrix.ts).
import { killMatrix } from './kill-matrix.js';

killMatrix('bullmq');
