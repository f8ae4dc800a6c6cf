import { ReplyError } from 'ioredis';
import { DependencyUnavailableError, errorText } from '../errors';

/**
 * Reply errors of a Redis that is there but not serving: still loading its data after a restart,
 * or a replica that lost its master (Sentinel). Any other reply error is about the command.
 */
const NOT_SERVING = /^(LOADING|MASTERDOWN) /;

/**
 * Whether `err`, from a Redis command, says Redis is unavailable: no connection (ioredis fails
 * at once with no offline queue), a connection lost mid-command, a command retried out, or a
 * server that is not serving yet; not an error Redis replied about the command itself.
 */
export function isRedisUnavailable(err: unknown): boolean {
  // ReplyError is typed `any` by ioredis; it is redis-errors' class.
  const reply = err instanceof (ReplyError as new () => Error);
  return reply ? NOT_SERVING.test(errorText(err)) : err instanceof Error;
}

/**
 * Runs one store operation; a Redis that is unavailable fails it with a DependencyUnavailableError
 * (the subscriber then holds the action back without counting an attempt), anything else as it was.
 */
export async function redisCall<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (!isRedisUnavailable(err)) throw err;
    throw new DependencyUnavailableError('redis', `Redis is unavailable (${what}): ${errorText(err)}`, err);
  }
}
