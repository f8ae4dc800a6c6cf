import { ReplyError } from 'ioredis';
import { DependencyUnavailableError, errorText } from '../errors';

/**
 * Reply errors of a Redis that is there but not serving: still loading its data after a restart,
 * a replica that lost its master, or a former master demoted during a Sentinel failover
 * (READONLY). Any other reply error is about the command.
 */
const NOT_SERVING = /^(LOADING|MASTERDOWN|READONLY) /;

/**
 * ioredis's own errors for a connection that is not there (they carry no code): a command with
 * no connection and no offline queue, a connection closed for good, a command in flight when the
 * connection dropped, a command retried out while reconnecting, a socket that went silent.
 */
const CONNECTION_LOST =
  /^(Stream isn't writeable|Connection is closed\.|Command aborted due to connection close|Reached the max retries per request limit|Socket timeout\.|connect ETIMEDOUT)/;

/**
 * Whether `err`, from a Redis command, says Redis is unavailable: no connection, a connection
 * lost mid-command, a command retried out, a socket error (it names its syscall), or a server
 * that is not serving; not a reply about the command itself, nor a bug in the caller's code.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  // ReplyError is typed `any` by ioredis; it is redis-errors' class (an Error).
  if (err instanceof (ReplyError as new () => object)) return NOT_SERVING.test(err.message);
  if (typeof (err as { syscall?: unknown }).syscall === 'string') return true;
  return err.name === 'MaxRetriesPerRequestError' || CONNECTION_LOST.test(err.message);
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
