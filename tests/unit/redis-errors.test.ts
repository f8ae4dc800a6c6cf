import { ReplyError } from 'ioredis';
import { MaxRetriesPerRequestError } from 'ioredis/built/errors';
import { isDependencyUnavailable, isRedisUnavailable, redisCall } from '@cmq/common';

// Only ioredis's connection failures and a server not serving are outages of Redis: an error of
// the caller's own code or a reply about the command fails the action as its own.

/** A reply error as ioredis makes it from Redis's `-PREFIX message` line. */
function reply(text: string): Error {
  // ReplyError is typed `any` by ioredis; it is redis-errors' class.
  return new (ReplyError as new (message: string) => Error)(text);
}

function socketError(code: string, syscall: string): Error {
  return Object.assign(new Error(`${syscall} ${code} 127.0.0.1:6379`), { code, syscall });
}

describe('isRedisUnavailable', () => {
  it.each([
    ['no connection, no offline queue', new Error("Stream isn't writeable and enableOfflineQueue options is false")],
    ['connection closed for good', new Error('Connection is closed.')],
    ['retried out while reconnecting', new MaxRetriesPerRequestError(1)],
    ['a socket error', socketError('ECONNREFUSED', 'connect')],
    ['a reset connection', socketError('ECONNRESET', 'read')],
    ['loading after a restart', reply('LOADING Redis is loading the dataset in memory')],
    ['a replica without its master', reply('MASTERDOWN Link with MASTER is down')],
    ['a demoted master during a failover', reply("READONLY You can't write against a read only replica.")],
  ])('%s is an outage', (_what, err) => {
    expect(isRedisUnavailable(err)).toBe(true);
  });

  it.each([
    ['a bug in the caller', new TypeError('Do not know how to serialize a BigInt')],
    ['a plain error', new Error('something else')],
    ['a script error', reply('ERR Error running script')],
    ['a wrong type', reply('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['not an error', 'Connection is closed.'],
  ])('%s is not', (_what, err) => {
    expect(isRedisUnavailable(err)).toBe(false);
  });
});

describe('redisCall', () => {
  it('rethrows an error of the operation itself unchanged', async () => {
    const bug = new TypeError('x is not a function');
    await expect(redisCall('test', () => Promise.reject(bug))).rejects.toBe(bug);
  });

  it('turns a lost connection into CMQ_ERR_DEPENDENCY_UNAVAILABLE', async () => {
    const err: unknown = await redisCall('test', () => Promise.reject(new Error('Connection is closed.'))).catch(
      (e: unknown) => e,
    );
    expect(isDependencyUnavailable(err)).toBe(true);
    expect((err as Error).message).toBe('Redis is unavailable (test): Connection is closed.');
  });
});
