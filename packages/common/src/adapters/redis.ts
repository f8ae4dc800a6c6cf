import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import { errorText } from '../errors';
import type { RedisConfig } from '../config/shared-files';
import type { Logger } from '../logging/logging';
import type { Component, StatusBoard } from '../lifecycle/component';
import { backoffDelay } from '../lifecycle/timing';
import { HeartbeatStore } from './redis-heartbeats';
import { LeaseStore } from './redis-lease';
import { NoopRunStore } from './redis-noop-runs';
import { PingerSummaryStore } from './redis-pinger-summary';
import { ProbeStore } from './redis-probes';
import { ResourcesCacheStore } from './redis-resources';
import { TokenBucketStore } from './redis-token-buckets';

type RedisCfg = RedisConfig['redis'];

/** `host:port` (or the Sentinel master name), for messages. */
export function redisLabel(cfg: RedisCfg): string {
  return cfg.mode === 'sentinel' ? `sentinel master ${cfg.sentinel.master_name}` : `${cfg.host}:${cfg.port}`;
}

/** TLS options for `redis.tls.*` (the server verified against the CA), undefined when off. */
function tlsOptions(tls: RedisCfg['tls']): ConnectionOptions | undefined {
  if (tls?.enabled !== true) return undefined;
  const read = (file: string): Buffer | undefined => (file === '' ? undefined : readFileSync(file));
  return { ca: read(tls.ca), cert: read(tls.cert), key: read(tls.key) };
}

/**
 * Options for request-path connections: no offline queue (a command while Redis is down fails
 * at once instead of piling up), one retry per request, capped jittered reconnects forever.
 */
export function redisOptions(cfg: RedisCfg, connectionName: string): RedisOptions {
  const common: RedisOptions = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: cfg.connect_timeout,
    connectionName,
    db: cfg.db,
    password: cfg.password === '' ? undefined : cfg.password,
    retryStrategy: (times: number) => backoffDelay(times, 100, 5_000),
    tls: tlsOptions(cfg.tls),
  };
  if (cfg.mode === 'sentinel') {
    const sentinels = cfg.sentinels.map((s) => {
      const [host, port] = s.split(':');
      return { host: host as string, port: Number(port) };
    });
    const sentinelTLS = tlsOptions(cfg.tls);
    return {
      ...common,
      sentinels,
      name: cfg.sentinel.master_name,
      sentinelTLS,
      enableTLSForSentinelMode: !!sentinelTLS,
    };
  }
  return { ...common, host: cfg.host, port: cfg.port };
}

/**
 * The process's Redis connection as a component; reconnects by itself and reports when down.
 * What is kept in Redis is reached through its named stores, never through raw commands.
 */
export class RedisClient implements Component {
  readonly name = 'redis';
  /** Every process's heartbeat. */
  readonly heartbeats: HeartbeatStore;
  /** Leases (the pinger's). */
  readonly leases: LeaseStore;
  /** The pinger's latest summary. */
  readonly pingerSummary: PingerSummaryStore;
  /** The cloud API rate limiter's token buckets. */
  readonly tokenBuckets: TokenBucketStore;
  /** The latest state of each cloud account's resources (written by sync actions). */
  readonly resources: ResourcesCacheStore;
  /** The latest result of each host probe. */
  readonly probes: ProbeStore;
  /** The noop action's run counter. */
  readonly noopRuns: NoopRunStore;
  private readonly redis: Redis;
  private closed = false;

  constructor(
    private readonly cfg: RedisCfg,
    private readonly logger: Logger,
    private readonly status: StatusBoard,
    connectionName: string,
  ) {
    this.redis = new Redis(redisOptions(cfg, connectionName));
    this.redis.on('error', (err: Error) => {
      this.status.set(this.name, `waiting for redis at ${redisLabel(cfg)} (${errorText(err)})`);
    });
    this.redis.on('ready', () => {
      this.status.set(this.name, undefined);
      this.logger.info({ redis: redisLabel(cfg) }, 'redis ready');
    });
    this.redis.on('end', () => {
      if (!this.closed) this.status.set(this.name, `waiting for redis at ${redisLabel(cfg)} (connection ended)`);
    });
    this.heartbeats = new HeartbeatStore(this.redis);
    this.leases = new LeaseStore(this.redis);
    this.pingerSummary = new PingerSummaryStore(this.redis);
    this.tokenBuckets = new TokenBucketStore(this.redis);
    this.resources = new ResourcesCacheStore(this.redis);
    this.probes = new ProbeStore(this.redis);
    this.noopRuns = new NoopRunStore(this.redis);
  }

  get ready(): boolean {
    return this.redis.status === 'ready';
  }

  /** ioredis' connection status (`wait`, `connecting`, `ready`, `end`, ...), for messages and tests. */
  get connectionStatus(): string {
    return this.redis.status;
  }

  /** Calls `listener` with each connection error (a failed attempt, a lost connection). */
  onError(listener: (err: Error) => void): void {
    this.redis.on('error', listener);
  }

  /**
   * Calls `listener` when the connection is ready (true) and each time it is lost or a
   * reconnection fails (false), until closed: a listener sees the same value more than once.
   */
  onAvailability(listener: (up: boolean) => void): void {
    this.redis.on('ready', () => listener(true));
    this.redis.on('close', () => {
      if (!this.closed) listener(false);
    });
  }

  /** Resolves once Redis is ready; keeps retrying (ioredis' retryStrategy) until then. */
  async start(signal: AbortSignal): Promise<void> {
    this.redis.connect().catch((err: unknown) => this.logger.debug({ err }, 'first redis connection attempt failed'));
    if (this.ready) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.redis.off('ready', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.redis.on('ready', done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.status.set(this.name, undefined);
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  destroy(): void {
    this.closed = true;
    this.redis.disconnect();
  }
}
