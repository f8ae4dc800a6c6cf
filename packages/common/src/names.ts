/**
 * Every exchange, queue, routing key, Redis key and action state name used on the wire or in
 * the database. Nothing else in the code base spells these strings (action types are named by
 * their definitions in @cmq/actions).
 */
export const Exchanges = {
  actions: 'cmq.actions',
  dead: 'cmq.dead',
  control: 'cmq.control',
} as const;

export const FAMILIES = ['provision', 'monitor', 'guest', 'control'] as const;
export type Family = (typeof FAMILIES)[number];

/**
 * Routing key of a worker-control message (`cmq.control`) for the processes of one service:
 * `workers.<service>`. The name, host and pid a message is meant for are in its body (host names
 * hold dots, which a topic exchange reads as word separators); each process's own queue is bound
 * with its service's key. Distinct from the canaries' `<family>.<type>.<tenant>` keys.
 */
export function workerControlKey(service: string): string {
  return `workers.${service}`;
}

/** The quorum queue that holds one family's actions. */
export function queueName(family: Family): string {
  return `cmq.${family}`;
}

/** The queue bound to `cmq.dead`, where dead-lettered messages are kept for `cmq dead`. */
export const DEAD_QUEUE = 'cmq.dead';

/**
 * Quorum queues dead-letter a message after this many redeliveries. Changing it changes the
 * queue arguments, which RabbitMQ refuses for an existing queue: it is a constant, not a setting.
 */
export const DELIVERY_LIMIT = 20;

/** Routing key `<family>.<type>.<tenant>`. */
export function routingKey(family: Family, type: string, tenant: string): string {
  return `${family}.${type}.${tenant}`;
}

export const ACTION_STATES = [
  'pending',
  'queued',
  'running',
  'succeeded',
  'failed',
  'retrying',
  'dead',
  'expired',
  'cancelled',
  'rejected',
] as const;
export type ActionState = (typeof ACTION_STATES)[number];
export const FINAL_STATES: readonly ActionState[] = ['succeeded', 'failed', 'dead', 'expired', 'cancelled', 'rejected'];

/** Redis key of one process's heartbeat: a hash that expires unless the process rewrites it. */
export function heartbeatKey(service: string, name: string, host: string, pid: number): string {
  return `cmq:heartbeat:${service}:${name}:${host}:${pid}`;
}

/** The SCAN pattern of every heartbeat key. */
export const HEARTBEAT_KEY_PATTERN = 'cmq:heartbeat:*';

/** Redis key of the pinger's latest summary (JSON, see PingerSummary in @cmq/actions). */
export const PINGER_SUMMARY_KEY = 'cmq:pinger:summary';

/** Redis key of the pinger lease: `SET <key> <pinger id> NX PX <2 × interval>`, renewed by the holder. */
export const PINGER_LEASE_KEY = 'cmq:pinger:lease';

/** Default prefix of the rate limiter's token buckets, `<prefix>:{<account id>}`. */
export const RATE_LIMIT_KEY_PREFIX = 'cmq:ratelimit';

/** Redis hash of the latest state of an account's resources of one kind: field resource id, value JSON state. */
export function resourcesCacheKey(tenant: string, account: string, kind: string): string {
  return `cmq:resources:${tenant}:${account}:${kind}`;
}

/** Beside the hash: the provider-answer time (ms) of the state it holds, so an older sync never overwrites a newer one. */
export function resourcesCacheStampKey(tenant: string, account: string, kind: string): string {
  return `${resourcesCacheKey(tenant, account, kind)}:observed_at`;
}

/** Redis key of the latest result of one probe on one target. */
export function probeKey(tenant: string, target: string, probe: string): string {
  return `cmq:probe:${tenant}:${target}:${probe}`;
}

/** Redis hash (one per tenant) counting completed noop runs per action id (`args.count`): tests' side-effect counter. */
export function noopRunsKey(tenant: string): string {
  return `cmq:noop:runs:${tenant}`;
}

/** Service names, as used in bins, log files, pid files and heartbeats. */
export const SERVICES = ['publisher', 'subscriber', 'pinger', 'console'] as const;
export type ServiceName = (typeof SERVICES)[number];
