// The kill matrix with the in-process queue: `serve` is the process killed (see kill-matrix.ts).
import { killMatrix } from './kill-matrix.js';

killMatrix('serve');
