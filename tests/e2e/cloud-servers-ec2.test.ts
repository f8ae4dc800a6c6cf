import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { RedisClient, StatusBoard } from '@cmq/common';
import { Redis } from 'ioredis';
import { RateLimiter } from '@cmq/drivers';
import { type ActionRow, actionRow, countEvents, listActions, listEvents } from '../helpers/actions';
import { FakeEc2 } from '../helpers/fake-ec2';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, runCmq, recordingCmq } from '../helpers/process';
import { waitFor } from '../helpers/wait';
import { textsUnder } from '../helpers/files';

/** A Redis database of its own: the rate limiter's keys are per account id, and ids repeat across tests' databases. */
const REDIS_DB = 8;
const TENANT = 't1';
const IMAGE = 'ami-be3adfd7';
const ACCESS_KEY = 'AKIAFAKEEC2SERVERSQWXY';
const SECRET_KEY = 'fakeEc2SecretKeyForServers/zzSECRETzz';

/** Server actions' results are objects (null before they end). */
type ServerResult = Record<string, unknown> | null;
type ServerAction = ActionRow<ServerResult>;

let fake: FakeEc2;
let pipe: Pipeline;
let subscriber: Spawned;
let redis: RedisClient;
let account: string;
let privateKey: string;
const outputs: string[] = [];

const cmq = recordingCmq(() => pipe.dir, outputs);

/** Submits a server.launch through `cmq call` (intake, mode check) and returns its id. */
async function launch(args: Record<string, string>): Promise<string> {
  const res = await cmq(['call', 'server.launch', '--tenant', TENANT, '--args', JSON.stringify({ account, ...args })]);
  expect(res).toMatchObject({ code: 0 });
  return res.stdout.trim();
}

/** The server.await actions of one server, oldest first. */
async function awaits(server: string): Promise<ServerAction[]> {
  return listActions(pipe.pool, { type: 'server.await', args: { server } });
}

/** Waits until the launch succeeded and its chain of server.await ended with the server running; returns the server id. */
async function launchedAndRunning(launchId: string, timeoutMs = 60_000): Promise<string> {
  let server = '';
  await waitFor(
    async () => {
      const row = await actionRow<ServerResult>(pipe.pool, launchId);
      if (row.state !== 'succeeded') return false;
      server = String(row.result?.server);
      return (await awaits(server)).some((a) => a.state === 'succeeded' && a.result?.state === 'running');
    },
    timeoutMs,
    `launch ${launchId} and its awaits until running`,
  );
  return server;
}

/** The chain is linear: the first await is keyed on the launch, each next on the one before; one ends running. */
function expectOneChain(launchId: string, chain: ServerAction[]): void {
  expect(chain.map((a) => a.idempotency_key)).toEqual(
    [launchId, ...chain.slice(0, -1).map((a) => a.id)].map((id) => `server.await:after:${id}`),
  );
  expect(chain.filter((a) => a.result?.state === 'running')).toHaveLength(1);
  expect(chain.slice(0, -1).every((a, i) => a.result?.next === chain[i + 1]?.id)).toBe(true);
}

beforeAll(async () => {
  fake = await new FakeEc2({ runningAfterDescribes: 2 }).start();
  pipe = await Pipeline.create({
    config: {
      'provisioning.cfg': { mode: 'dynamic', 'cloud.rate': 50, 'cloud.burst': 5 },
      'persistence.properties': { 'redis.db': REDIS_DB },
      'subscriber.properties': { 'retry.initial_delay': '200ms', 'retry.max_delay': '1s', 'retry.max_throttled': 10 },
    },
  });
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(pipe.dir, 'ec2_key')]);
  privateKey = readFileSync(join(pipe.dir, 'ec2_key'), 'utf8');
  writeFileSync(
    join(pipe.dir, 'ec2.json'),
    JSON.stringify({
      access_key_id: ACCESS_KEY,
      secret_access_key: SECRET_KEY,
      key_name: 'cmq-test',
      ssh_private_key: privateKey,
    }),
  );
  await pipe.addTenants(TENANT);
  const added = await cmq([
    'accounts',
    'add',
    '--tenant',
    TENANT,
    '--provider',
    'ec2',
    '--region',
    'us-east-1',
    '--endpoint',
    fake.endpoint,
    '--credentials-file',
    join(pipe.dir, 'ec2.json'),
  ]);
  expect(added.code).toBe(0);
  account = /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
  redis = new RedisClient(
    {
      mode: 'standalone',
      host: '127.0.0.1',
      port: 6379,
      password: '',
      db: REDIS_DB,
      sentinels: [],
      sentinel: { master_name: 'mymaster' },
      connect_timeout: 2_000,
    },
    pino({ level: 'silent' }),
    new StatusBoard(),
    'cmq-test-servers',
  );
  await redis.start(new AbortController().signal);
  const raw = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
  try {
    const stale = await raw.keys('cmq:ratelimit:*');
    if (stale.length > 0) await raw.del(...stale);
  } finally {
    raw.disconnect();
  }
  pipe.start('publisher');
  subscriber = pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
}, 90_000);

afterAll(async () => {
  await redis?.close();
  await pipe?.destroy();
  await fake?.close();
});

describe('server actions against the fake EC2 endpoint', () => {
  it('launch → await until running (recorded, registered as a guest) → reboot → terminate (guest removed)', async () => {
    const launchId = await launch({ image: IMAGE, name: 'web1' });
    const server = await launchedAndRunning(launchId);
    const launched = (await actionRow<ServerResult>(pipe.pool, launchId)).result;
    expect(launched).toMatchObject({ server, state: 'pending' });
    expect(launched?.await_action).toMatch(/^[0-9]+$/);
    const run = fake.calls.filter((c) => c.action === 'RunInstances' && c.status === 200);
    expect(run.map((c) => c.params.ClientToken)).toEqual([launchId]);
    expect(run[0]?.params).toMatchObject({ ImageId: IMAGE, InstanceType: 't3.micro', KeyName: 'cmq-test' });
    const instance = fake.instances.get(server);
    expect(instance?.state).toBe('running');
    expect(fake.countCalls('DescribeInstances', 200)).toBeGreaterThanOrEqual(2);
    const chain = await awaits(server);
    expectOneChain(launchId, chain);
    expect(chain.at(-1)?.result).toMatchObject({
      state: 'running',
      guest: server,
      ssh_port: 22,
      addresses: { public: [instance?.publicIp], private: [instance?.privateIp] },
    });

    const { rows: servers } = await pipe.pool.query(
      'SELECT tenant_id, account_id::text, server_id, launch_action_id::text, name, image, size, state, addresses, guest_id FROM servers',
    );
    expect(servers).toEqual([
      {
        tenant_id: TENANT,
        account_id: account,
        server_id: server,
        launch_action_id: launchId,
        name: 'web1',
        image: IMAGE,
        size: 't3.micro',
        state: 'running',
        addresses: { public: [instance?.publicIp], private: [instance?.privateIp] },
        guest_id: server,
      },
    ]);
    const { rows: guests } = await pipe.pool.query(
      'SELECT id, address, port, "user", trust_on_first_use, host_key_fingerprint, private_key LIKE \'v1:k1:%\' AS encrypted FROM guests',
    );
    expect(guests).toEqual([
      {
        id: server,
        address: instance?.publicIp,
        port: 22,
        user: 'ec2-user',
        trust_on_first_use: true,
        host_key_fingerprint: null,
        encrypted: true,
      },
    ]);

    const reboot = await cmq([
      'call',
      'server.reboot',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ account, server }),
      '--wait',
    ]);
    expect(reboot.code).toBe(0);
    expect(fake.countCalls('RebootInstances', 200)).toBe(1);

    const terminate = await cmq([
      'call',
      'server.terminate',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ account, server }),
      '--wait',
    ]);
    expect(terminate.code).toBe(0);
    expect(terminate.stdout).toContain(`"guest_removed":"${server}"`);
    expect(instance?.state).toBe('shutting-down');
    expect((await pipe.pool.query('SELECT state, guest_id FROM servers WHERE server_id = $1', [server])).rows).toEqual([
      { state: 'terminated', guest_id: server },
    ]);
    expect((await pipe.pool.query('SELECT id FROM guests')).rows).toEqual([]);
    // A server.await of a terminated server fails and says so.
    const late = await cmq([
      'call',
      'server.await',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ account, server }),
      '--wait',
    ]);
    expect(late.code).toBe(1);
    expect(late.stdout).toMatch(/failed[\s\S]*error: server i-[0-9a-f]+ is (stopping|terminated): it will not run/);
  }, 90_000);

  it("an invalid image id ends dead with the provider's message; an EC2 launch without an image names args.image", async () => {
    const bad = await cmq([
      'call',
      'server.launch',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ account, image: 'ami-00000000' }),
      '--wait',
    ]);
    expect(bad.code).toBe(1);
    const id = bad.stdout.split('\n')[0] as string;
    expect(await actionRow<ServerResult>(pipe.pool, id)).toMatchObject({
      state: 'dead',
      attempts: 1,
      error: "ec2 RunInstances: InvalidAMIID.NotFound: The image id '[ami-00000000]' does not exist",
    });
    const none = await cmq([
      'call',
      'server.launch',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ account }),
      '--wait',
    ]);
    expect(none.code).toBe(1);
    expect(none.stdout).toContain('dead');
    expect(none.stdout).toContain('args.image: required for ec2 accounts');
  }, 60_000);

  it("a throttling burst slows the account's bucket down; every action still succeeds, throttled runs not counted as attempts", async () => {
    const limiter = new RateLimiter(redis, { rate: 50, burst: 5 });
    const throttledBefore = fake.countCalls('RunInstances', 503) + fake.countCalls('DescribeInstances', 503);
    fake.throttleNext(40);
    const launches = await pipe.submit(
      [1, 2, 3, 4].map((n) => ({
        type: 'server.launch',
        tenant: TENANT,
        args: { account, image: IMAGE, name: `burst${n}` },
      })),
    );
    await waitFor(
      () => fake.calls.filter((c) => c.status === 503).length >= 40,
      30_000,
      'the fake to have throttled 40 calls',
    );
    expect((await limiter.state(account)).factor).toBeLessThanOrEqual(1 / 8);
    const servers = await Promise.all(launches.map((id) => launchedAndRunning(id, 90_000)));
    expect(new Set(servers).size).toBe(4);
    expect(
      fake.countCalls('RunInstances', 503) + fake.countCalls('DescribeInstances', 503) - throttledBefore,
    ).toBeGreaterThan(0);
    const rows = (await listActions(pipe.pool, { type: 'server.%' }))
      .filter((r) => launches.includes(r.id) || servers.includes(String(r.args.server)))
      .map(({ id, type, attempts, state }) => ({ id, type, attempts, state }));
    expect(rows.filter((r) => r.state !== 'succeeded')).toEqual([]);
    expect(rows.filter((r) => r.attempts !== 1)).toEqual([]);
    // The refund is on the record: retried runs whose attempt was given back.
    const refunds = await countEvents(pipe.pool, {
      ids: rows.map((r) => r.id),
      to: 'retrying',
      reason: '%RequestLimitExceeded%throttled: attempt 1 not counted%',
    });
    expect(refunds).toBeGreaterThan(0);
    // Each launch still made exactly one instance.
    for (const id of launches) expect([...fake.instances.values()].filter((i) => i.clientToken === id)).toHaveLength(1);
  }, 150_000);

  it('a provider that throttles for ever: retry.max_throttled runs are not counted, later ones are, and the action ends dead saying so', async () => {
    fake.throttleNext(1_000_000);
    try {
      const res = await cmq([
        'call',
        'server.launch',
        '--tenant',
        TENANT,
        '--max-attempts',
        '2',
        '--args',
        JSON.stringify({ account, image: IMAGE, name: 'forever' }),
      ]);
      expect(res).toMatchObject({ code: 0 });
      const id = res.stdout.trim();
      await waitFor(
        async () => (await actionRow<ServerResult>(pipe.pool, id)).state === 'dead',
        120_000,
        'the launch throttled for ever to end dead',
      );
      const row = await actionRow<ServerResult>(pipe.pool, id);
      expect(row.attempts).toBe(2);
      expect(row.error).toMatch(
        /^gave up after 2 attempts: .*RequestLimitExceeded.* \(throttled, counted as an attempt: 10 throttled runs already went uncounted, retry\.max_throttled=10\)$/,
      );
      const events = await listEvents(pipe.pool, { ids: [id], to: ['retrying', 'dead'] });
      expect(
        events.map((e) =>
          e.to_state === 'retrying'
            ? /attempt 1 not counted/.test(e.reason ?? '')
              ? 'free'
              : /counted as an attempt: 10 throttled runs already went uncounted/.test(e.reason ?? '')
                ? 'counted'
                : e.reason
            : e.to_state,
        ),
      ).toEqual([...Array<string>(10).fill('free'), 'counted', 'dead']);
      expect([...fake.instances.values()].filter((i) => i.clientToken === id)).toHaveLength(0);
    } finally {
      fake.stopThrottling();
    }
  }, 150_000);

  it('a subscriber SIGKILLed after RunInstances answered and before anything was recorded: the redelivery makes no second instance, row or await chain', async () => {
    subscriber.kill('SIGTERM');
    await subscriber.exited;
    const pause = join(pipe.dir, 'pause-after-launch');
    const paused = pipe.start('subscriber', [], { CMQ_TEST_PAUSE_AFTER_LAUNCH_FILE: pause });
    await pipe.running('subscriber', 'default', paused.pid);
    const launchId = await launch({ image: IMAGE, name: 'killed' });
    await waitFor(() => existsSync(`${pause}.waiting`), 30_000, 'the subscriber paused after the launch');
    paused.kill('SIGKILL');
    await paused.exited;
    const made = [...fake.instances.values()].filter((i) => i.clientToken === launchId);
    expect(made).toHaveLength(1);
    expect((await pipe.pool.query('SELECT 1 FROM servers WHERE launch_action_id = $1', [launchId])).rowCount).toBe(0);

    subscriber = pipe.start('subscriber');
    await pipe.running('subscriber', 'default', subscriber.pid);
    const server = await launchedAndRunning(launchId, 90_000);
    expect(server).toBe(made[0]?.id);
    expect(await actionRow<ServerResult>(pipe.pool, launchId)).toMatchObject({ state: 'succeeded', attempts: 2 });
    expect([...fake.instances.values()].filter((i) => i.clientToken === launchId)).toHaveLength(1);
    expect(
      fake.calls.filter((c) => c.action === 'RunInstances' && c.params.ClientToken === launchId && c.status === 200),
    ).toHaveLength(2);
    expect(
      (await pipe.pool.query('SELECT server_id FROM servers WHERE launch_action_id = $1', [launchId])).rows,
    ).toEqual([{ server_id: server }]);
    expectOneChain(launchId, await awaits(server));
  }, 150_000);

  it('no secret reaches a cmq output or a log file', () => {
    const keyBody = privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    const texts = [...outputs, ...textsUnder(pipe.logDir)];
    for (const secret of [SECRET_KEY, ACCESS_KEY, ...keyBody])
      expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});
