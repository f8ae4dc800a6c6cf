import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LocalDriver } from '@cmq/drivers';
import { actionRow, listActions } from '../helpers/actions';
import { freePort } from '../helpers/private-servers';
import { Pipeline } from '../helpers/pipeline';
import { runCmq } from '../helpers/process';
import { type KeyPair, SSH_TEST_USER, makeKeyPair } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

/** A Redis database of its own: the rate limiter's keys are per account id, and ids repeat across tests' databases. */
const REDIS_DB = 6;
const TENANT = 'acme';
const FORGET_AFTER_S = 3;

let pipe: Pipeline;
let key: KeyPair;
let sshPort: number;
let account: string;

async function cmq(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runCmq([...args, '--config-dir', pipe.dir]);
}

/** `cmq call TYPE --wait`: the action's final row. */
async function call(
  type: string,
  args: Record<string, unknown>,
): Promise<{
  code: number | null;
  id: string;
  state: string;
  result: Record<string, unknown> | null;
  error: string | null;
}> {
  const res = await cmq([
    'call',
    type,
    '--tenant',
    TENANT,
    '--args',
    JSON.stringify(args),
    '--wait',
    '--timeout',
    '90',
  ]);
  const id = res.stdout.split('\n')[0] ?? '';
  const row = await actionRow(pipe.pool, id).catch(() => undefined);
  const { state, result, error } = row ?? { state: 'missing', result: null, error: res.stderr };
  return { code: res.code, id, state, result: result as Record<string, unknown> | null, error };
}

/** The local cloud of this test, seen directly (addresses, cleanup). */
function localCloud(): LocalDriver {
  return new LocalDriver({ stateDir: join(pipe.dir, 'local-cloud'), account, authorizedKey: key.publicKey, sshPort });
}

function tcpRefused(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

interface ResourceJson {
  resource_id: string;
  state: { state?: string };
  gone_at: string | null;
}

async function resources(): Promise<ResourceJson[]> {
  const res = await cmq(['resources', '--tenant', TENANT, '--kind', 'server', '--json', '--all']);
  expect(res.code).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResourceJson);
}

/** The unprivileged login the servers admit (cloud.local.login_user), made as tests/helpers/sshd.ts makes it. */
function ensureTestUser(): void {
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--password', '*', SSH_TEST_USER]);
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0)
    throw new Error('the local cloud e2e runs as root (its subscriber serves cloud.local.login_user, another user)');
  ensureTestUser();
  // A port of its own: other test files run local clouds (addresses 127.0.X.Y are only unique per state dir).
  sshPort = await freePort();
  pipe = await Pipeline.create({
    config: {
      // The subscriber runs as root here: its servers admit another user, as a root install with a dedicated login user would.
      'provisioning.cfg': {
        mode: 'dynamic',
        'cloud.local.ssh_port': sshPort,
        'cloud.local.forget_after': `${FORGET_AFTER_S}s`,
        'cloud.local.login_user': SSH_TEST_USER,
      },
      'persistence.properties': { 'redis.db': REDIS_DB },
    },
  });
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  key = makeKeyPair(pipe.dir, 'local_account_key');
  writeFileSync(
    join(pipe.dir, 'local.json'),
    JSON.stringify({ ssh_private_key: key.privateKey, ssh_public_key: key.publicKey.trim() }),
  );
  expect((await cmq(['tenants', 'add', TENANT, '--name', 'Acme'])).code).toBe(0);
  const added = await cmq([
    'accounts',
    'add',
    '--tenant',
    TENANT,
    '--provider',
    'local',
    '--region',
    'lo',
    '--credentials-file',
    join(pipe.dir, 'local.json'),
  ]);
  expect(added.code).toBe(0);
  account = /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
  await pipe.startPublisherAndSubscriber();
}, 90_000);

afterAll(async () => {
  // Every sshd the test launched is stopped, whatever happened.
  if (account !== undefined && pipe !== undefined) {
    const cloud = localCloud();
    for (const s of await cloud.listServers().catch(() => []))
      if (s.state !== 'terminated') await cloud.terminateServer(s.id).catch(() => undefined);
  }
  await pipe?.destroy();
}, 60_000);

describe('the local cloud end to end', () => {
  const servers: string[] = [];

  it('three servers launched with cmq call server.launch --wait run, each registered as a guest with its host key pinned', async () => {
    const launches = await Promise.all(
      ['web1', 'web2', 'web3'].map((name) => call('server.launch', { account, name })),
    );
    for (const l of launches) expect(l).toMatchObject({ code: 0, state: 'succeeded' });
    servers.push(...launches.map((l) => String(l.result?.server)));
    expect(new Set(servers).size).toBe(3);
    await waitFor(
      async () =>
        (await listActions(pipe.pool, { type: 'server.await', state: 'succeeded' })).filter(
          (a) => (a.result as { state?: unknown } | null)?.state === 'running',
        ).length === 3,
      60_000,
      'three await chains to end running',
    );
    const listed = await localCloud().listServers();
    const { rows } = await pipe.pool.query<{
      server_id: string;
      name: string;
      state: string;
      host_key_fingerprint: string;
      guest_id: string;
      address: string;
      port: number;
      user: string;
      pinned: string;
      tofu: boolean;
    }>(
      `SELECT s.server_id, s.name, s.state, s.host_key_fingerprint, s.guest_id, g.address, g.port, g."user", g.host_key_fingerprint AS pinned, g.trust_on_first_use AS tofu
       FROM servers s JOIN guests g ON g.tenant_id = s.tenant_id AND g.id = s.guest_id ORDER BY s.name`,
    );
    expect(rows.map((r) => r.name)).toEqual(['web1', 'web2', 'web3']);
    for (const r of rows) {
      const provider = listed.find((s) => s.id === r.server_id);
      expect(provider?.state).toBe('running');
      expect(r).toMatchObject({
        state: 'running',
        guest_id: r.server_id,
        address: provider?.addresses.public?.[0],
        port: sshPort,
        user: SSH_TEST_USER,
        pinned: provider?.hostKeyFingerprint,
        tofu: true,
      });
      expect(r.host_key_fingerprint).toMatch(/^SHA256:/);
    }
  }, 150_000);

  it('each is reachable over SSH with its pinned host key (guest.exec on every registered guest)', async () => {
    for (const server of servers) {
      const run = await call('guest.exec', {
        guest: server,
        command:
          'echo "hello from $(hostname -s 2>/dev/null || echo host) $((6 * 7))"; id -un; test -w "$HOME/log/app.log"',
      });
      expect(run).toMatchObject({ code: 0, state: 'succeeded' });
      expect(String(run.result?.stdout)).toMatch(new RegExp(`^hello from .* 42\\n${SSH_TEST_USER}\\n$`));
      expect(run.result?.code).toBe(0);
    }
    // Still pinned to what the provider reported (nothing re-recorded on contact).
    const { rows } = await pipe.pool.query<{ same: boolean }>(
      'SELECT s.host_key_fingerprint = g.host_key_fingerprint AS same FROM servers s JOIN guests g ON g.id = s.guest_id',
    );
    expect(rows.map((r) => r.same)).toEqual([true, true, true]);
  }, 90_000);

  it('a sync shows them running in cmq resources; terminating one stops its sshd, removes its guest, and a later sync records it gone', async () => {
    expect((await call('sync.servers', { account })).state).toBe('succeeded');
    const synced = await resources();
    expect(synced.filter((r) => servers.includes(r.resource_id)).map((r) => r.state.state)).toEqual([
      'running',
      'running',
      'running',
    ]);

    const victim = servers[0] as string;
    const address = (await localCloud().getServer(victim))?.addresses.public?.[0] as string;
    const terminated = await call('server.terminate', { account, server: victim });
    expect(terminated).toMatchObject({ code: 0, state: 'succeeded', result: { guest_removed: victim } });
    expect(await tcpRefused(address, sshPort)).toBe(true);
    expect((await pipe.pool.query('SELECT id FROM guests WHERE id = $1', [victim])).rowCount).toBe(0);
    expect((await pipe.pool.query('SELECT state FROM servers WHERE server_id = $1', [victim])).rows).toEqual([
      { state: 'terminated' },
    ]);

    // The local cloud lists a terminated server (state terminated) for cloud.local.forget_after
    // (an hour by default, like EC2), then forgets it: the next sync after that records it gone.
    // A fixed wait on purpose: only the clock passing forget_after makes the subscriber's driver
    // forget the server, and nothing shows it before the next sync looks.
    await sleep(FORGET_AFTER_S * 1000 + 200);
    const since = new Date(Date.now() - 1000).toISOString();
    expect((await call('sync.servers', { account })).state).toBe('succeeded');
    const changes = await cmq(['changes', '--tenant', TENANT, '--since', since, '--json']);
    expect(changes.code).toBe(0);
    const rows = changes.stdout
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { resource_id: string; change: string });
    expect(rows.filter((c) => c.resource_id === victim).map((c) => c.change)).toEqual(['gone']);
    const after = await resources();
    expect(after.find((r) => r.resource_id === victim)?.gone_at).not.toBeNull();
    expect(
      after.filter((r) => r.gone_at === null && servers.includes(r.resource_id)).map((r) => r.state.state),
    ).toEqual(['running', 'running']);
  }, 120_000);
});
