/**
 * Every exchange, queue, routing key and action state name used on the wire or in
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

/** Redis key of one process's heartbeat. */
export function heartbeatKey(service: string, name: string, host: string, pid: number): string {
  return `cmq:heartbeat:${service}:${name}:${host}:${pid}`;
}

/** Service names, as used in bins, log files, pid files and heartbeats. */
export const SERVICES = ['publisher', 'subscriber', 'pinger'] as const;
export type ServiceName = (typeof SERVICES)[number];
