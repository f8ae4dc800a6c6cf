import { hostname } from 'node:os';
import { type PausedBy, pausedFamilies } from '@cmq/actions';
import {
  CmqError,
  type Family,
  PINGER_SUMMARY_KEY,
  RedisClient,
  type RedisConfig,
  StatusBoard,
  errorText,
  persistenceFile,
  redisLabel,
} from '@cmq/common';
import pino from 'pino';
import { type Env, loadConfigFile } from './config-set';
import { type StoredSummary, parseSummary } from './pinger-summary';

type RedisCfg = RedisConfig['redis'];

/** One live process, from its heartbeat hash (numbers parsed; absent fields are null). */
export interface ProcessBeat {
  service: string;
  name: string;
  host: string;
  pid: number;
  version: string;
  started_at: string | null;
  at: string | null;
  queues: string[];
  in_flight: number | null;
  processed: number | null;
  failed: number | null;
  rss: number | null;
  interval_ms: number | null;
  loop_lag_ms: number | null;
  /** What the process waits for ("waiting for broker at ..."), '' when nothing. */
  waiting: string;
  /** `starting`, `running` or `draining`; '' from a release before the field. */
  state: string;
  /** Families worker control paused on this process, with who paused each and when. */
  paused: Partial<Record<Family, PausedBy>>;
}

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

function num(value: string | undefined): number | null {
  if (value === undefined || value === '') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

function toBeat(h: Record<string, string>): ProcessBeat {
  return {
    service: h.service ?? '?',
    name: h.name ?? '?',
    host: h.host ?? '?',
    pid: num(h.pid) ?? 0,
    version: h.version ?? '?',
    started_at: h.started_at ?? null,
    at: h.at ?? null,
    queues: (h.queues ?? '').split(',').filter((q) => q !== ''),
    in_flight: num(h.in_flight),
    processed: num(h.processed),
    failed: num(h.failed),
    rss: num(h.rss),
    interval_ms: num(h.interval_ms),
    loop_lag_ms: num(h.loop_lag_ms),
    waiting: h.waiting ?? '',
    state: h.state ?? '',
    paused: pausedFamilies(h.paused),
  };
}

/** Every live process: each heartbeat hash found with SCAN (never KEYS), sorted by service, name, host, pid. */
export async function readHeartbeats(redis: RedisClient): Promise<ProcessBeat[]> {
  const beats = (await redis.heartbeats.readAll()).map((h) => toBeat(h.fields));
  return beats.sort(
    (a, b) =>
      a.service.localeCompare(b.service) ||
      a.name.localeCompare(b.name) ||
      a.host.localeCompare(b.host) ||
      a.pid - b.pid,
  );
}

/** The pinger's summary, `undefined` when there is none. @throws CmqError `CMQ_ERR_SUMMARY` when it cannot be parsed. */
export async function readSummary(redis: RedisClient): Promise<StoredSummary | undefined> {
  const text = await redis.pingerSummary.read();
  if (text === undefined) return undefined;
  try {
    return parseSummary(text);
  } catch (err) {
    throw new CmqError(
      'CMQ_ERR_SUMMARY',
      `the pinger summary in redis (${PINGER_SUMMARY_KEY}) cannot be read: ${errorText(err)}`,
    );
  }
}
