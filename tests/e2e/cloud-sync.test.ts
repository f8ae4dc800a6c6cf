import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { RESOURCE_KINDS } from '@cmq/actions';
import { REMOVED_ACCOUNT_STAMP, RedisClient, StatusBoard } from '@cmq/common';
import { Redis } from 'ioredis';
import { actionRow, countActions, listActions, waitForActions } from '../helpers/actions';
import { FakeEc2 } from '../helpers/fake-ec2';
import type { FakeInstance } from '../helpers/fake-ec2-xml';
import { Pipeline } from '../helpers/pipeline';
import { runCmq, recordingCmq } from '../helpers/process';
import { waitFor } from '../helpers/wait';
import { textsUnder } from '../helpers/files';

/** A Redis database of its own: cache keys hold tenant and account ids, which repeat across tests' databases. */
const REDIS_DB = 7;
const TENANT = 'sync1';
const ACCESS_KEY = 'AKIAFAKESYNCTESTKEY7';
const SECRET_KEY = 'fakeSyncSecretKey/zzSYNCSECRETzz0';

interface Change {
  account_id: string;
  kind: string;
  resource_id: string;
  change: 'created' | 'changed' | 'gone';
  fields: Record<string, unknown>;
  action_id: string | null;
}

interface Resource {
  account_id: string;
  kind: string;
  resource_id: string;
  state: Record<string, unknown>;
  gone_at: string | null;
}

let fake: FakeEc2;
let pipe: Pipeline;
let redis: RedisClient;
/** The test's own connection, to look at what the subscriber wrote. */
const raw = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB, lazyConnect: true });
let account: string;
const outputs: string[] = [];
let ip = 100;

const cmq = recordingCmq(() => pipe.dir, outputs);

async function jsonLines<T>(args: string[]): Promise<T[]> {
  const res = await cmq(args);
  expect(res).toMatchObject({ code: 0, stderr: '' });
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

const resources = (...extra: string[]): Promise<Resource[]> =>
  jsonLines<Resource>(['resources', '--tenant', TENANT, '--json', ...extra]);
const changes = (...extra: string[]): Promise<Change[]> =>
  jsonLines<Change>(['changes', '--tenant', TENANT, '--json', '--limit', '1000', ...extra]);

/** An instance put straight into the fake (as if launched by someone else), already running. */
function addInstance(id: string, name: string): FakeInstance {
  ip += 1;
  const instance: FakeInstance = {
    id,
    reservationId: `r-${id.slice(2)}`,
    image: 'ami-be3adfd7',
    type: 't3.micro',
    clientToken: '',
    tags: [{ key: 'Name', value: name }],
    state: 'running',
    launchTime: new Date('2024-05-01T12:00:00Z'),
    privateIp: `10.0.0.${ip}`,
    publicIp: `203.0.113.${ip}`,
    rootVolumeId: `vol-root${id.slice(2)}`,
    describes: 0,
    changedAt: Date.now(),
  };
  fake.instances.set(id, instance);
  return instance;
}

async function serverChanges(id: string): Promise<Change[]> {
  return (await changes('--kind', 'server')).filter((c) => c.resource_id === id);
}

/** Every file under `dir`, recursively. */

beforeAll(async () => {
  fake = await new FakeEc2().start();
  pipe = await Pipeline.create({
    config: {
      'persistence.properties': { 'redis.db': REDIS_DB },
      'provisioning.cfg': { 'cloud.rate': 50, 'cloud.burst': 10 },
      'publisher.properties': {
        'sync.enabled': 'true',
        'sync.interval.servers': '1s',
        'sync.interval.firewalls': '1s',
        'sync.interval.volumes': '1s',
        'sync.interval.budget': '2s',
        'sync.jitter': '0.1',
        'sync.lease': '3s',
      },
    },
  });
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  writeFileSync(
    join(pipe.dir, 'ec2.json'),
    JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: SECRET_KEY }),
  );
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
    'cmq-test-sync',
  );
  await redis.start(new AbortController().signal);
  const stale = [...(await raw.keys('cmq:resources:*')), ...(await raw.keys('cmq:ratelimit:*'))];
  if (stale.length > 0) await raw.del(...stale);
  await pipe.addTenants(TENANT);
  addInstance('i-0000000000000aaa1', 'web');
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
  await pipe.startPublisherAndSubscriber();
}, 90_000);

afterAll(async () => {
  await redis?.close();
  raw.disconnect();
  await pipe?.destroy();
  await fake?.close();
});

describe('scheduled cloud sync against the fake EC2 endpoint', () => {
  it("the scheduler emits sync.* for the account; cmq resources shows the fake's instances, security groups and volumes", async () => {
    await waitFor(
      async () => (await resources()).length === 5,
      20_000,
      'one server, two firewalls, two volumes synced',
    );
    const rows = await resources();
    expect(rows.map((r) => `${r.kind} ${r.resource_id}`).sort()).toEqual([
      'firewall sg-443d0a12',
      'firewall sg-5ff8a023',
      'server i-0000000000000aaa1',
      'volume vol-10ae5e2b',
      'volume vol-v24bfh75',
    ]);
    expect(rows.find((r) => r.kind === 'server')?.state).toMatchObject({
      id: 'i-0000000000000aaa1',
      name: 'web',
      state: 'running',
      image: 'ami-be3adfd7',
      size: 't3.micro',
    });
    expect(rows.find((r) => r.resource_id === 'sg-443d0a12')?.state).toMatchObject({
      name: 'WebServers',
      rules: [{ direction: 'ingress', protocol: 'tcp', fromPort: 80, toPort: 80, sources: ['0.0.0.0/0'] }],
    });
    expect(rows.every((r) => r.account_id === account && r.gone_at === null)).toBe(true);

    const table = await cmq(['resources', '--tenant', TENANT]);
    expect(table.code).toBe(0);
    const [header, ...lines] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ACCOUNT\s+KIND\s+ID\s+NAME\s+STATE\s+FIRST SEEN\s+LAST SEEN\s+DETAILS$/);
    expect(lines).toHaveLength(5);
    const server = lines.find((l) => l.includes('i-0000000000000aaa1')) ?? '';
    expect(server).toMatch(/\bserver\s+i-0000000000000aaa1\s+web\s+running\b/);
    // Aligned: every line's ID column starts where the header's does.
    const idColumn = (header ?? '').indexOf('ID');
    expect(lines.filter((l) => !l.slice(idColumn).startsWith(l.split(/\s+/)[2] ?? '?'))).toEqual([]);
    expect((await cmq(['resources', '--tenant', TENANT, '--kind', 'volume'])).stdout).toMatch(
      /vol-v24bfh75\s+-\s+in-use/,
    );

    const syncs = await listActions(pipe.pool, { type: 'sync.%' });
    expect([...new Set(syncs.map((r) => r.type))].sort()).toEqual([
      'sync.budget',
      'sync.firewalls',
      'sync.servers',
      'sync.volumes',
    ]);
    expect(syncs.filter((r) => r.state === 'failed' || r.state === 'dead')).toEqual([]);
    expect(syncs.find((r) => r.type === 'sync.servers')).toMatchObject({
      idempotency_key: expect.stringMatching(
        new RegExp(`^sync:${account}:servers:\\d{4}-\\d\\d-\\d\\dT[0-9:.]+Z$`),
      ) as unknown,
      args: { account },
      family: 'monitor',
    });
    // The EC2 driver has no budget: sync.budget succeeds, records nothing.
    const budgets = { type: 'sync.budget', state: 'succeeded' };
    await waitForActions(pipe.pool, budgets, 1, 15_000, 'a sync.budget finished');
    expect((await listActions(pipe.pool, budgets))[0]?.result).toEqual({ supported: false });
    expect(await resources('--kind', 'budget')).toEqual([]);
  }, 60_000);

  it('created / changed (fields) / gone instances, firewalls and volumes are each recorded exactly once', async () => {
    const created = addInstance('i-0000000000000bbb2', 'db');
    await waitFor(async () => (await serverChanges(created.id)).length === 1, 15_000, 'i-...bbb2 created');

    const web = fake.instances.get('i-0000000000000aaa1') as FakeInstance;
    web.tags = [{ key: 'Name', value: 'web-renamed' }];
    await waitFor(async () => (await serverChanges(web.id)).length === 2, 15_000, 'web renamed');
    web.state = 'terminated';
    await waitFor(async () => (await serverChanges(web.id)).length === 3, 15_000, 'web terminated');
    fake.instances.delete(web.id);
    await waitFor(async () => (await serverChanges(web.id)).length === 4, 15_000, 'web gone');

    const group = fake.securityGroups[0];
    if (group === undefined) throw new Error('the fake has no security group');
    group.ingress.push({ protocol: 'tcp', from: 443, to: 443, cidrs: ['0.0.0.0/0'], groups: [] });
    fake.volumes.splice(
      fake.volumes.findIndex((v) => v.id === 'vol-10ae5e2b'),
      1,
    );
    await waitFor(
      async () => (await changes('--kind', 'firewall')).some((c) => c.change === 'changed'),
      15_000,
      'a firewall rule added',
    );
    await waitFor(
      async () => (await changes('--kind', 'volume')).some((c) => c.change === 'gone'),
      15_000,
      'a volume gone',
    );

    // Several more syncs of every kind with nothing new: still exactly once each.
    const serverSyncs = { type: 'sync.servers', state: 'succeeded' };
    const before = await countActions(pipe.pool, serverSyncs);
    await waitForActions(pipe.pool, serverSyncs, before + 3, 15_000, 'three more server syncs');

    const all = await changes();
    const summary = all.map(
      (c) =>
        `${c.kind} ${c.resource_id} ${c.change}${c.change === 'changed' ? ` ${Object.keys(c.fields).sort().join(',')}` : ''}`,
    );
    expect(summary).toEqual(
      expect.arrayContaining([
        'server i-0000000000000aaa1 created',
        'server i-0000000000000bbb2 created',
        'server i-0000000000000aaa1 changed name',
        // A terminated instance has no addresses any more (EC2 drops them).
        'server i-0000000000000aaa1 changed addresses,state',
        'server i-0000000000000aaa1 gone',
        'firewall sg-443d0a12 changed rules',
        'volume vol-10ae5e2b gone',
      ]),
    );
    // Nothing else: the five first resources' and the new instance's creation, and the changes above.
    expect(summary).toHaveLength(5 + 1 + 5);
    expect(new Set(summary).size).toBe(summary.length);
    const renamed = all.find(
      (c) => c.resource_id === 'i-0000000000000aaa1' && c.change === 'changed' && 'name' in c.fields,
    );
    expect(renamed?.fields).toEqual({ name: { old: 'web', new: 'web-renamed' } });
    const terminated = all.find(
      (c) => c.resource_id === 'i-0000000000000aaa1' && c.change === 'changed' && 'state' in c.fields,
    );
    expect(terminated?.fields).toMatchObject({ state: { old: 'running', new: 'terminated' } });
    // Each change names the sync action that saw it.
    expect((await actionRow(pipe.pool, String(renamed?.action_id))).type).toBe('sync.servers');

    // The human view of changes: aligned columns, old → new.
    const text = await cmq(['changes', '--tenant', TENANT, '--kind', 'server']);
    expect(text.stdout).toMatch(/^AT\s+ACCOUNT\s+KIND\s+ID\s+CHANGE\s+WHAT\n/);
    expect(text.stdout).toContain('name: web → web-renamed');
    expect(text.stdout).toContain('state: running → terminated');

    // --all shows the gone ones too.
    expect((await resources('--kind', 'server')).map((r) => r.resource_id)).toEqual(['i-0000000000000bbb2']);
    const withGone = await resources('--kind', 'server', '--all');
    expect(withGone.map((r) => [r.resource_id, r.gone_at !== null])).toEqual([
      ['i-0000000000000aaa1', true],
      ['i-0000000000000bbb2', false],
    ]);

    // --since: only what came after.
    const last = all.at(-1) as Change & { at: string };
    expect(await changes('--since', last.at)).toEqual([]);
    expect((await changes('--since', '2000-01-01T00:00:00Z')).length).toBe(all.length);
    expect((await changes('--limit', '2')).map((c) => c.resource_id)).toEqual(all.slice(-2).map((c) => c.resource_id));
  }, 120_000);

  it('the Redis cache holds the latest state of every resource not gone', async () => {
    for (const kind of ['server', 'firewall', 'volume']) {
      const stored = await resources('--kind', kind);
      const cached = await raw.hgetall(`cmq:resources:${TENANT}:${account}:${kind}`);
      expect({
        kind,
        cached: Object.fromEntries(Object.entries(cached).map(([id, json]) => [id, JSON.parse(json) as unknown])),
      }).toEqual({ kind, cached: Object.fromEntries(stored.map((r) => [r.resource_id, r.state])) });
    }
    expect(await raw.hlen(`cmq:resources:${TENANT}:${account}:server`)).toBe(1);
  });

  it('clear errors: unknown tenant, bad --since, bad --kind', async () => {
    const unknown = await cmq(['resources', '--tenant', 'nosuch']);
    expect(unknown).toMatchObject({ code: 1, stdout: '' });
    expect(unknown.stderr).toContain('unknown tenant "nosuch"');
    expect((await cmq(['changes', '--tenant', 'nosuch'])).stderr).toContain('unknown tenant "nosuch"');
    const since = await cmq(['changes', '--tenant', TENANT, '--since', 'yesterday']);
    expect(since.code).toBe(64);
    expect(since.stderr).toContain('must be an ISO 8601 date or time');
    const kind = await cmq(['resources', '--tenant', TENANT, '--kind', 'servers']);
    expect(kind.code).toBe(64);
    expect(kind.stderr).toContain('must be one of server, firewall, volume, budget');
  });

  it('removing the account drops its cached resources, and a sync answer from before cannot write them back', async () => {
    const removed = await cmq(['accounts', 'remove', account]);
    expect(removed).toMatchObject({ code: 0, stderr: '' });
    for (const kind of RESOURCE_KINDS) {
      const key = `cmq:resources:${TENANT}:${account}:${kind}`;
      expect({ kind, hash: await raw.exists(key) }).toEqual({ kind, hash: 0 });
      expect({ kind, stamp: await raw.get(`${key}:observed_at`) }).toEqual({
        kind,
        stamp: REMOVED_ACCOUNT_STAMP,
      });
      const ttl = await raw.ttl(`${key}:observed_at`);
      expect(ttl > 0 && ttl <= 86_400).toBe(true);
    }
    // A sync that was in flight finishes after the removal, even one whose answer is newer than
    // anything cached before: refused.
    const late = await redis.resources.replace(
      TENANT,
      account,
      'server',
      new Date(Date.now() + 60_000),
      new Map([['i-late', { state: 'running' }]]),
    );
    expect(late).toBe(false);
    expect(await raw.exists(`cmq:resources:${TENANT}:${account}:server`)).toBe(0);
    expect((await cmq(['accounts', 'remove', account])).stderr).toContain(`no account ${account}`);
  });

  it('no secret reaches a cmq output or a log file', () => {
    const texts = [...outputs, ...textsUnder(pipe.logDir)];
    for (const secret of [SECRET_KEY, ACCESS_KEY]) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});
