import type { Redis } from 'ioredis';
import { HEARTBEAT_KEY_PATTERN, heartbeatKey } from '../names';
import { scanKeys } from './redis-scan';

/** Who a heartbeat belongs to: one process. */
export interface HeartbeatId {
  service: string;
  name: string;
  host: string;
  pid: number;
}

/** One heartbeat hash as read back: its key and its fields. */
export interface StoredHeartbeat {
  key: string;
  fields: Record<string, string>;
}

/**
 * The processes' heartbeats: one Redis hash per process ({@link heartbeatKey}) that expires by
 * itself, so every hash there is a live process.
 */
export class HeartbeatStore {
  constructor(private readonly redis: Redis) {}

  /** Writes `fields` and sets the hash to expire after `ttlMs`, in one MULTI. */
  async write(id: HeartbeatId, fields: Record<string, string>, ttlMs: number): Promise<void> {
    const key = heartbeatKey(id.service, id.name, id.host, id.pid);
    await this.redis.multi().hset(key, fields).pexpire(key, ttlMs).exec();
  }

  /** Deletes a process's heartbeat (a graceful stop). */
  async remove(id: HeartbeatId): Promise<void> {
    await this.redis.del(heartbeatKey(id.service, id.name, id.host, id.pid));
  }

  /**
   * Whether each process's heartbeat is there (one pipelined EXISTS each).
   * @throws when Redis does not answer, or the first error reply.
   */
  async exist(ids: readonly HeartbeatId[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const w of ids) pipeline.exists(heartbeatKey(w.service, w.name, w.host, w.pid));
    const results = (await pipeline.exec()) ?? [];
    return ids.map((_, i) => {
      const [err, n] = results[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return n === 1;
    });
  }

  /**
   * Every heartbeat there (SCAN, never KEYS; then one pipelined HGETALL). A key that expired
   * between the two, or that is not a hash, is left out: that process is gone.
   */
  async readAll(): Promise<StoredHeartbeat[]> {
    const keys = await scanKeys(this.redis, HEARTBEAT_KEY_PATTERN);
    if (keys.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const key of keys) pipeline.hgetall(key);
    const results = (await pipeline.exec()) ?? [];
    const out: StoredHeartbeat[] = [];
    keys.forEach((key, i) => {
      const [err, fields] = results[i] ?? [new Error('no reply'), null];
      if (err === null && typeof fields === 'object' && fields !== null && Object.keys(fields).length > 0)
        out.push({ key, fields: fields as Record<string, string> });
    });
    return out;
  }
}
