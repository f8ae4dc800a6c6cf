import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ActionRow, waitForFinal, waitForState } from '../helpers/actions';
import { FakeCobbler } from '../helpers/fake-cobbler';
import { textsUnder } from '../helpers/files';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, recordingCmq, runCmq } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/**
 * metal.provision, metal.power and sync.metal through real subscribers and PostgreSQL, against a
 * FAKE Cobbler XML-RPC server (tests/helpers/fake-cobbler.ts): Cobbler itself cannot run here.
 */
const TENANT = `metal-${randomBytes(3).toString('hex')}`;
const PASSWORD = `cobbler-${randomBytes(8).toString('hex')}`;

type Result = Record<string, unknown> | null;

let fake: FakeCobbler;
let pipe: Pipeline;
let subscriber: Spawned;
let account = '';
let badAccount = '';
const outputs: string[] = [];
const cmq = recordingCmq(() => pipe.dir, outputs);

async function addAccount(file: string, password: string): Promise<string> {
  writeFileSync(join(pipe.dir, file), JSON.stringify({ user: 'cmq', password }));
  const added = await cmq([
    'accounts',
    'add',
    '--tenant',
    TENANT,
    '--provider',
    'cobbler',
    '--region',
    'lab',
    '--endpoint',
    fake.endpoint,
    '--credentials-file',
    join(pipe.dir, file),
  ]);
  expect(added).toMatchObject({ code: 0 });
  return /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
}

async function submit(type: string, args: Record<string, unknown>): Promise<string> {
  const [id = ''] = await pipe.submit([{ type, tenant: TENANT, args }]);
  return id;
}

async function call(type: string, args: Record<string, unknown>): Promise<ActionRow<Result>> {
  return (await waitForFinal(pipe.pool, await submit(type, args), 30_000)) as ActionRow<Result>;
}

const reboots = (system: string): number =>
  fake.countCalls('power_system', (p) => p[0] === `system::${system}` && p[1] === 'reboot');

beforeAll(async () => {
  fake = await new FakeCobbler({ cmq: PASSWORD }, ['node1', 'node2', 'node3']).start();
  pipe = await Pipeline.create({
    config: {
      'provisioning.cfg': { mode: 'static' },
      'subscriber.properties': { 'retry.initial_delay': '200ms', 'retry.max_delay': '1s' },
    },
  });
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  await pipe.addTenants(TENANT);
  account = await addAccount('cobbler.json', PASSWORD);
  badAccount = await addAccount('cobbler-wrong.json', 'not-the-password');
  pipe.start('publisher');
  subscriber = pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
}, 60_000);

afterAll(async () => {
  await pipe?.destroy();
  await fake?.close();
});

it('provisions: profile and netboot saved, one sync, one power-cycle', async () => {
  const row = await call('metal.provision', { account, system: 'node1', profile: 'debian12' });
  expect(row).toMatchObject({
    state: 'succeeded',
    result: { system: 'node1', profile: 'debian12', netboot_enabled: true, power_cycled: true, resumed_after: null },
  });
  expect(fake.systems.get('node1')).toMatchObject({ profile: 'debian12', netboot_enabled: true, power: 'on' });
  expect(fake.syncs).toHaveLength(1);
  expect(reboots('node1')).toBe(1);
  // Cobbler's order: saved, then synced, then power-cycled.
  const order = fake.calls.map((c) => c.method).filter((m) => ['save_system', 'sync', 'power_system'].includes(m));
  expect(order).toEqual(['save_system', 'sync', 'power_system']);
});

it('powers off, reads off, powers on, reads on', async () => {
  expect(await call('metal.power', { account, system: 'node2', op: 'off' })).toMatchObject({ state: 'succeeded' });
  expect(fake.systems.get('node2')?.power).toBe('off');
  expect((await call('metal.power', { account, system: 'node2', op: 'status' })).result).toEqual({
    system: 'node2',
    power: 'off',
  });
  expect(await call('metal.power', { account, system: 'node2', op: 'on' })).toMatchObject({ state: 'succeeded' });
  expect((await call('metal.power', { account, system: 'node2', op: 'status' })).result).toEqual({
    system: 'node2',
    power: 'on',
  });
});

it('sync.metal records systems with profile, netboot and power, and their changes', async () => {
  const first = await call('sync.metal', { account });
  expect(first).toMatchObject({ state: 'succeeded', result: { created: 3, changed: 0, gone: 0, total: 3 } });
  fake.systems.get('node3')!.power = 'off';
  const second = await call('sync.metal', { account });
  expect(second.result).toMatchObject({ created: 0, changed: 1, total: 3 });
  const { rows } = await pipe.pool.query(
    "SELECT resource_id, fields FROM resource_changes WHERE account_id = $1 AND change = 'changed'",
    [account],
  );
  expect(rows).toEqual([{ resource_id: 'node3', fields: { power: { old: 'on', new: 'off' } } }]);
  const shown = await cmq(['resources', '--tenant', TENANT, '--kind', 'system']);
  expect(shown.stdout).toMatch(/node1\s+node1\s+on\s+\S+\s+\S+\s+profile=debian12 netboot=true/);
  expect(shown.stdout).toMatch(/node3\s+node3\s+off\s+\S+\s+\S+\s+profile=rocky9 netboot=false/);
});

it('a failed login is a permanent error: dead after one attempt, one login tried', async () => {
  const before = fake.countCalls('login');
  const row = await call('metal.power', { account: badAccount, system: 'node1', op: 'status' });
  expect(row).toMatchObject({ state: 'dead', attempts: 1 });
  expect(row.error).toContain('login failed (cmq)');
  expect(row.error).toContain('not retried');
  expect(fake.countCalls('login') - before).toBe(1);
});

it('two provisions of one system at once sync one after the other', async () => {
  const syncsBefore = fake.syncs.length;
  fake.syncMs = 500;
  const ids = [
    await submit('metal.provision', { account, system: 'node2', profile: 'debian12' }),
    await submit('metal.provision', { account, system: 'node2', profile: 'debian12' }),
  ];
  const rows = await Promise.all(ids.map((id) => waitForFinal(pipe.pool, id, 30_000)));
  fake.syncMs = 300;
  expect(rows.map((r) => r.state)).toEqual(['succeeded', 'succeeded']);
  // One of them found the other's sync running (CMQ_ERR_COBBLER_BUSY) and was retried.
  expect(Math.max(...rows.map((r) => r.attempts))).toBeGreaterThanOrEqual(2);
  const syncs = fake.syncs.slice(syncsBefore).sort((a, b) => a.start - b.start);
  expect(syncs).toHaveLength(2);
  expect(syncs[1]!.start).toBeGreaterThanOrEqual(syncs[0]!.end);
  expect(reboots('node2')).toBe(2);
});

it('a provision killed after saving and rerun goes on from the sync and power-cycles once', async () => {
  let release = (): void => undefined;
  fake.syncGate = new Promise<void>((resolve) => (release = resolve));
  const syncCalls = fake.countCalls('sync');
  const id = await submit('metal.provision', { account, system: 'node3', profile: 'debian12' });
  await waitFor(() => fake.countCalls('sync') > syncCalls, 20_000, 'the provision in its sync');
  const { rows } = await pipe.pool.query('SELECT step FROM metal_provisions WHERE action_id = $1', [id]);
  expect(rows).toEqual([{ step: 'assigned' }]);
  subscriber.kill('SIGKILL');
  await subscriber.exited;
  fake.syncGate = undefined;
  release();
  subscriber = pipe.start('subscriber');
  const row = (await waitForState(pipe.pool, id, 'succeeded', 30_000)) as ActionRow<Result>;
  expect(row.result).toMatchObject({ power_cycled: true, resumed_after: 'assigned' });
  expect(row.attempts).toBe(2);
  expect(reboots('node3')).toBe(1);
  expect(fake.countCalls('save_system', (p) => p[0] === 'system::node3')).toBe(1);
});

it('the password is in no log and no cmq output', async () => {
  const shown = await cmq(['accounts', 'show', account]);
  expect(shown.code).toBe(0);
  expect(outputs.filter((o) => o.includes(PASSWORD))).toEqual([]);
  expect(textsUnder(pipe.logDir).filter((t) => t.includes(PASSWORD))).toEqual([]);
});
