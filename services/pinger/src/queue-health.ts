import { type DependencyCheck, type FamilyCounts, familyCounts } from '@cmq/actions';
import { type AmqpClient, type Database, FAMILIES, type Family, type RedisClient, errorText, queueName, scanKeys } from '@cmq/common';

/** Rejects after `ms` (a probe must not hold up the tick behind a half-open connection). */
async function withTimeout<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `probe` under a timeout and reports how it went and how long it took. */
async function timed<T>(timeoutMs: number, what: string, probe: () => Promise<T>): Promise<{ check: DependencyCheck; value: T | undefined }> {
  const start = performance.now();
  try {
    const value = await withTimeout(timeoutMs, what, probe());
    return { check: { ok: true, ms: Math.round(performance.now() - start) }, value };
  } catch (err) {
    return { check: { ok: false, ms: Math.round(performance.now() - start), error: errorText(err) }, value: undefined };
  }
}

/**
 * Live subscribers per family: every heartbeat `cmq:heartbeat:subscriber:*` still in Redis
 * (they expire after three of their intervals) counts for each family in its `queues` field.
 */
async function consumersByFamily(redis: RedisClient): Promise<Record<Family, number>> {
  const keys = await scanKeys(redis.redis, 'cmq:heartbeat:subscriber:*');
  const out = Object.fromEntries(FAMILIES.map((f) => [f, 0])) as Record<Family, number>;
  if (keys.length === 0) return out;
  const pipeline = redis.redis.pipeline();
  for (const key of keys) pipeline.hget(key, 'queues');
  const results = (await pipeline.exec()) ?? [];
  for (const [err, queues] of results) {
    if (err !== null || typeof queues !== 'string') continue;
    for (const family of new Set(queues.split(','))) if (family in out) out[family as Family] += 1;
  }
  return out;
}

/** Messages in each family's queue, from one passive declare each. */
async function brokerDepths(amqp: AmqpClient): Promise<Record<Family, number>> {
  const out = {} as Record<Family, number>;
  for (const family of FAMILIES) out[family] = (await amqp.checkQueue(queueName(family))).messages;
  return out;
}

/** Everything measured each tick except the canaries. */
export interface Measurements {
  dependencies: { postgres: DependencyCheck; redis: DependencyCheck; rabbitmq: DependencyCheck };
  counts: Record<Family, FamilyCounts> | undefined;
  consumers: Record<Family, number> | undefined;
  depths: Record<Family, number> | undefined;
}

/**
 * Probes the three dependencies, each timed and bounded by `timeoutMs`: PostgreSQL by counting
 * each family's actions, Redis by reading the subscribers' heartbeats, RabbitMQ by a passive
 * declare of each family queue. A probe that failed leaves its values undefined.
 */
export async function measure(deps: { database: Database; redis: RedisClient; amqp: AmqpClient }, timeoutMs: number): Promise<Measurements> {
  const [pg, redis, broker] = await Promise.all([
    timed(timeoutMs, 'postgres', () => familyCounts(deps.database.sql)),
    timed(timeoutMs, 'redis', () => consumersByFamily(deps.redis)),
    timed(timeoutMs, 'rabbitmq', () => brokerDepths(deps.amqp)),
  ]);
  return {
    dependencies: { postgres: pg.check, redis: redis.check, rabbitmq: broker.check },
    counts: pg.value,
    consumers: redis.value,
    depths: broker.value,
  };
}
