// Worker thread for chain-range.ts: checks one range of a file log and posts the result.
import { parentPort, workerData } from 'node:worker_threads';
import { checkRange, type RangeTask } from './chain-range.js';

parentPort!.postMessage(await checkRange(workerData as RangeTask));
