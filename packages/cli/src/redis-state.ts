import { hostname } from 'node:os';
import {
  CmqError,
  RedisClient,
  type RedisConfig,
  StatusBoard,
  errorText,
  persistenceFile,
  redisLabel,
} from '@cmq/common';
import pino from 'pino';
import { type Env, loadConfigFile } from './config-set';
export { type ProcessBeat, readHeartbeats, readSummary } from '@cmq/actions';

type RedisCfg = RedisConfig['redis'];

/** Redis could not be read: the check says UNKNOWN with this message. */
export class RedisUnreachable extends CmqError {
  constructor(cfg: RedisCfg, reason: string) {
    super('CMQ_ERR_REDIS_UNREACHABLE', `cannot read state from redis at ${redisLabel(cfg)}: ${reason}`);
  }
}

/** Loads only `persistence.properties` (ConfigError: exit 78). */
export function loadRedisConfig(dirOption: string | undefined, env: Env): RedisCfg {
  return loadConfigFile(dirOption, env, persistenceFile).redis;
}

/**
 * Connects within `timeoutMs` (giving up at the first failed attempt: a command line does not
 * wait for Redis to come back), runs `fn`, disconnects.
 * @throws RedisUnreachable naming the server and the reason.
 */
export async function withRedis<T>(
  cfg: RedisCfg,
  timeoutMs: number,
  fn: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  const client = new RedisClient(
    { ...cfg, connect_timeout: Math.min(cfg.connect_timeout, timeoutMs) },
    pino({ level: 'silent' }),
    new StatusBoard(),
    `cmq-cli@${hostname()}:${process.pid}`,
  );
  const give = new AbortController();
  let reason: string | undefined;
  client.onError((err) => {
    reason ??= errorText(err);
    give.abort();
  });
  const timer = setTimeout(() => give.abort(), timeoutMs);
  try {
    await client.start(give.signal);
    if (!client.ready) throw new RedisUnreachable(cfg, reason ?? `no answer within ${timeoutMs / 1000} s`);
    return await fn(client);
  } catch (err) {
    if (err instanceof CmqError) throw err;
    throw new RedisUnreachable(cfg, errorText(err));
  } finally {
    clearTimeout(timer);
    if (client.ready) await client.close();
    else client.destroy();
  }
}
