import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { CmqError, type RedisConfig, RedisClient, StatusBoard } from '@cmq/common';
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { DriverError, Ec2Driver, RateLimitedDriver, RateLimiter, type RateLimiterOptions } from '@cmq/drivers';
import { FakeEc2 } from '../helpers/fake-ec2';
import { waitFor } from '../helpers/wait';

const logger = pino({ level: 'silent' });
const clients: RedisClient[] = [];

function redisConfig(port: number): RedisConfig['redis'] {
  return {
    mode: 'standalone',
    host: '127.0.0.1',
    port,
    password: '',
    db: 0,
    sentinels: [],
    sentinel: { master_name: 'mymaster' },
    connect_timeout: 2_000,
  };
}

/** A RedisClient of its own, as a separate process would have. */
async function client(): Promise<RedisClient> {
  const c = new RedisClient(
    redisConfig(6379),
    logger,
    new StatusBoard(),
    `cmq-test-ratelimit-${randomBytes(4).toString('hex')}`,
  );
  clients.push(c);
  await c.start(new AbortController().signal);
  return c;
}

let prefix: string;
beforeEach(() => {
  prefix = `cmq:test:ratelimit:${randomBytes(4).toString('hex')}`;
});

afterEach(async () => {
  const raw = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
  try {
    const keys = await raw.keys(`${prefix}:*`);
    if (keys.length > 0) await raw.del(...keys);
  } finally {
    raw.disconnect();
  }
  await Promise.all(clients.splice(0).map((x) => x.close()));
});

async function limiter(opts: Omit<RateLimiterOptions, 'prefix'>): Promise<RateLimiter> {
  return new RateLimiter(await client(), { prefix, ...opts });
}

/** Acquires in a loop for `ms`; returns how many tokens were granted. */
async function grantedWithin(l: RateLimiter, account: string, ms: number): Promise<number> {
  const signal = AbortSignal.timeout(ms);
  let granted = 0;
  for (;;) {
    try {
      await l.acquire(account, signal);
    } catch {
      return granted;
    }
    if (signal.aborted) return granted;
    granted += 1;
  }
}

describe('RateLimiter (token bucket per account in Redis)', () => {
  it('grants the burst at once, then the rate', async () => {
    const l = await limiter({ rate: 20, burst: 5 });
    // The burst, then a wait of up to one token's time (an account of its own at 2/s, so that a
    // slow machine's pause between the calls cannot refill it: 500 ms a token).
    for (let n = 0; n < 5; n += 1) expect(await l.tryAcquire({ id: 'acct-a', rate: 2, burst: 5 })).toBe(0);
    const wait = await l.tryAcquire({ id: 'acct-a', rate: 2, burst: 5 });
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(500);
    // A fresh account: burst 5 + 20/s over one second = 25 grants at most (fewer when the event
    // loop stalls, never more).
    const t0 = Date.now();
    const granted = await grantedWithin(l, 'acct-b', 1_000);
    expect(granted).toBeLessThanOrEqual(5 + Math.ceil((20 * (Date.now() - t0)) / 1_000));
    expect(granted).toBeGreaterThanOrEqual(15);
    // Per-account overrides: another account with its own burst.
    for (let n = 0; n < 8; n += 1) expect(await l.tryAcquire({ id: 'acct-c', rate: 1, burst: 8 })).toBe(0);
    expect(await l.tryAcquire({ id: 'acct-c', rate: 1, burst: 8 })).toBeGreaterThan(500);
  });

  it('two limiters (two processes) share one bucket', async () => {
    const [a, b] = [await limiter({ rate: 10, burst: 10 }), await limiter({ rate: 10, burst: 10 })];
    const counts = await Promise.all([grantedWithin(a, 'shared', 1_000), grantedWithin(b, 'shared', 1_000)]);
    const total = counts[0] + counts[1];
    expect(total).toBeGreaterThanOrEqual(14);
    expect(total).toBeLessThanOrEqual(21);
    expect(counts[0]).toBeGreaterThan(2);
    expect(counts[1]).toBeGreaterThan(2);
  });

  it('penalize halves the rate and drains the bucket; it recovers step by step', async () => {
    const l = await limiter({ rate: 20, burst: 5, penaltyStepMs: 1_000, minRateFactor: 1 / 8 });
    expect((await l.penalize('acct')).factor).toBe(0.5);
    const second = await l.penalize('acct');
    expect(second).toEqual({ tokens: 0, factor: 0.25 });
    expect((await l.penalize({ id: 'acct' })).factor).toBe(0.125);
    expect((await l.penalize('acct')).factor).toBe(0.125);
    // At 20/s × 1/8 = 2.5/s the next token is ~400 ms away (it was 50 ms at full rate).
    const wait = await l.tryAcquire('acct');
    expect(wait).toBeGreaterThan(200);
    expect(wait).toBeLessThanOrEqual(400);
    // One step (1 s) later the factor has doubled once, or twice if the timer ran late: not yet
    // recovered fully... A fixed wait on purpose: the recovery goes by the clock, one step a second.
    await new Promise((r) => setTimeout(r, 1_100));
    expect([0.25, 0.5]).toContain((await l.state('acct')).factor);
    // ...and a few steps later it is back to 1.
    await waitFor(async () => (await l.state('acct')).factor === 1, 10_000, 'the rate to recover');
    expect((await l.state('other')).factor).toBe(1);
  });

  it('acquire is cancellable and takes nothing when cancelled', async () => {
    const l = await limiter({ rate: 0.5, burst: 1 });
    await l.acquire('slow');
    const controller = new AbortController();
    const t0 = Date.now();
    setTimeout(() => controller.abort(new Error('action timed out')), 100);
    await expect(l.acquire('slow', controller.signal)).rejects.toThrow('action timed out');
    expect(Date.now() - t0).toBeLessThan(1_000); // not the 2 s a token takes
    expect((await l.state('slow')).tokens).toBeLessThan(1);
    const already = new AbortController();
    already.abort(new Error('stopping'));
    await expect(l.acquire('fresh', already.signal)).rejects.toThrow('stopping');
  });

  it('fails with a transient dependency-unavailable error naming the account when Redis cannot answer', async () => {
    const closed = await client();
    await closed.close();
    const l = new RateLimiter(closed, { prefix, rate: 1, burst: 1 });
    const err: unknown = await l.acquire('acct-x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CmqError);
    // Redis away is an outage of cmq itself: the subscriber holds the action back without counting it.
    expect(err).toMatchObject({ code: 'CMQ_ERR_DEPENDENCY_UNAVAILABLE', transient: true, dependency: 'redis' });
    expect((err as Error).message).toContain('account acct-x');
  });

  it('a rate-limited driver slows down on throttling and still succeeds, with one instance', async () => {
    const fake = await new FakeEc2().start();
    const ec2 = new Ec2Driver({
      region: 'us-east-1',
      endpoint: fake.endpoint,
      credentials: { accessKeyId: 'AKIATESTRATELIMIT', secretAccessKey: 'secret-rate-limit-test' },
    });
    try {
      const l = await limiter({ rate: 50, burst: 5, penaltyStepMs: 60_000 });
      const driver = new RateLimitedDriver(ec2, l, { id: 'ec2-acct' }, 3);
      fake.throttleNext(2);
      const t0 = Date.now();
      const server = await driver.launchServer({
        image: 'ami-be3adfd7',
        size: 't3.micro',
        name: 'n',
        clientToken: randomUUID(),
      });
      // Two penalties: 50/s → 12.5/s, so the third try waited ~80 ms for its token.
      expect(Date.now() - t0).toBeGreaterThanOrEqual(60);
      expect(fake.countCalls('RunInstances')).toBe(3);
      expect(fake.instances.size).toBe(1);
      expect((await driver.getServer(server.id))?.id).toBe(server.id);
      expect((await l.state('ec2-acct')).factor).toBe(0.25);
      fake.throttleNext(10);
      const err: unknown = await driver.listServers().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DriverError);
      expect(err).toMatchObject({ kind: 'throttled', transient: true });
      expect(fake.countCalls('DescribeInstances', 503)).toBe(4);
    } finally {
      ec2.destroy();
      await fake.close();
    }
  });
});
