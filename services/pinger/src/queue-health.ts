import {
  type DependencyCheck,
  type FamilyCounts,
  type WaitingProcess,
  consumesQueues,
  familyCounts,
} from '@cmq/actions';
import {
  type AmqpClient,
  type Database,
  FAMILIES,
  type Family,
  type RedisClient,
  errorText,
  queueName,
} from '@cmq/common';

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
async function timed<T>(
  timeoutMs: number,
  what: string,
  probe: () => Promise<T>,
): Promise<{ check: DependencyCheck; value: T | undefined }> {
  const start = performance.now();
  try {
    const value = await withTimeout(timeoutMs, what, probe());
    return { check: { ok: true, ms: Math.round(performance.now() - start) }, value };
  } catch (err) {
    return { check: { ok: false, ms: Math.round(performance.now() - start), error: errorText(err) }, value: undefined };
  }
}

/** What the live heartbeats say: subscribers per family, and the processes waiting for something. */
interface HeartbeatView {
  consumers: Record<Family, number>;
  waiting: WaitingProcess[];
}

/**
 * Reads every heartbeat still in Redis (they expire after three of their
 * intervals, so each is a live process; SCAN, then one pipelined HGETALL): a subscriber that
 * consumes (running; see consumesQueues) counts for each family in its `queues` field; a
 * process whose `waiting` is not empty is listed (as the heartbeat wrote it: one line, bounded,
 * no URL credentials), sorted by service, name, host, pid.
 */
async function readHeartbeats(redis: RedisClient): Promise<HeartbeatView> {
  const consumers = Object.fromEntries(FAMILIES.map((f) => [f, 0])) as Record<Family, number>;
  const waiting: WaitingProcess[] = [];
  for (const { fields } of await redis.heartbeats.readAll()) {
    const { service = '', name = '', host = '', pid = '', queues = '', waiting: text = '', state = '' } = fields;
    if (service === '') continue;
    if (consumesQueues({ service, state }))
      for (const family of new Set(queues.split(','))) if (family in consumers) consumers[family as Family] += 1;
    if (text !== '') waiting.push({ service, name, host, pid: Number(pid) || 0, waiting: text });
  }
  waiting.sort(
    (a, b) =>
      a.service.localeCompare(b.service) ||
      a.name.localeCompare(b.name) ||
      a.host.localeCompare(b.host) ||
      a.pid - b.pid,
  );
  return { consumers, waiting };
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
  /** Live processes waiting for something; undefined when Redis did not answer. */
  waiting: WaitingProcess[] | undefined;
  depths: Record<Family, number> | undefined;
}

/**
 * Probes the three dependencies, each timed and bounded by `timeoutMs`: PostgreSQL by counting
 * each family's actions, Redis by reading every live heartbeat, RabbitMQ by a passive
 * declare of each family queue. A probe that failed leaves its values undefined.
 */
export async function measure(
  deps: { database: Database; redis: RedisClient; amqp: AmqpClient },
  timeoutMs: number,
): Promise<Measurements> {
  const [pg, redis, broker] = await Promise.all([
    timed(timeoutMs, 'postgres', () => familyCounts(deps.database.sql)),
    timed(timeoutMs, 'redis', () => readHeartbeats(deps.redis)),
    timed(timeoutMs, 'rabbitmq', () => brokerDepths(deps.amqp)),
  ]);
  return {
    dependencies: { postgres: pg.check, redis: redis.check, rabbitmq: broker.check },
    counts: pg.value,
    consumers: redis.value?.consumers,
    waiting: redis.value?.waiting,
    depths: broker.value,
  };
}
