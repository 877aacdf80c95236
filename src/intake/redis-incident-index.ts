// The incident index in Redis, shared by every intake process (serve replicas behind a
// load balancer, the two receivers of an HA Alertmanager pair): one JSON string per alert,
// expiring with the alert (30 days after its last firing notice, a day after it resolved).
import { sha256Hex } from '../audit/index.js';
import { describeError, UpstreamError } from '../errors.js';
import { openFailFastRedis } from '../redis-client.js';
import { forgottenAt, type AlertRecord, type IncidentIndex } from './incidents.js';

export interface RedisIncidentIndexOptions {
  connection: string;
  /** Prefix of every key (the queue's). */
  prefix: string;
  /** How long a command may wait for Redis before the webhook is answered 503 (default 5000 ms). */
  commandTimeoutMs?: number;
}

export function createRedisIncidentIndex(options: RedisIncidentIndexOptions): IncidentIndex {
  const client = openFailFastRedis(options.connection, { maxRetriesPerRequest: 1 });
  const { redis } = client;
  const limit = options.commandTimeoutMs ?? 5000;
  const keyOf = (key: string) => `${options.prefix}:incidents:${sha256Hex(key).slice(0, 40)}`;

  async function command<T>(action: string, work: () => Promise<T>): Promise<T> {
    try {
      await client.connected(action, limit);
      return await work();
    } catch (err) {
      if (err instanceof UpstreamError) throw err;
      throw new UpstreamError('redis', `${action} failed: ${client.unreachable() ?? describeError(err)}`, {
        retryable: true,
        cause: err,
      });
    }
  }

  return {
    async get(keys) {
      if (keys.length === 0) return [];
      const raw = await command('reading which runs handle these alerts', () => redis.mget(...keys.map(keyOf)));
      return raw.map((r) => (r === null ? undefined : (JSON.parse(r) as AlertRecord)));
    },
    async put(records) {
      if (records.length === 0) return;
      const batch = redis.multi();
      const now = Date.now();
      for (const r of records) {
        const ttl = Math.floor(forgottenAt(r) - now);
        if (ttl > 0) batch.set(keyOf(r.key), JSON.stringify(r), 'PX', ttl);
        else batch.del(keyOf(r.key));
      }
      await command('recording which run handles these alerts', () => batch.exec());
    },
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}
