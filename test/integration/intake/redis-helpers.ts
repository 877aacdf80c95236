// Shared by the intake integration tests: the local Redis, unique names, and cleanup.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const REDIS_URL = 'redis://127.0.0.1:6379';

export function uniqueNames() {
  const id = randomBytes(6).toString('hex');
  return { prefix: `mlops-test-${id}`, queueName: `runs-${id}` };
}

/** Obliterates the BullMQ queue and deletes every other key under the test's prefix. */
export async function wipe(prefix: string, queueName: string, url = REDIS_URL): Promise<void> {
  const admin = new Queue(queueName, { connection: { url }, prefix });
  await admin.obliterate({ force: true });
  await admin.close();
  const redis = new Redis(url);
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}
