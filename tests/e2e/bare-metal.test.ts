import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ActionRow, waitForFinal, waitForState } from '../helpers/actions';
import { FakeCobbler } from '../helpers/fake-cobbler';
import { textsUnder } from '../helpers/files';
import { IpmiSim } from '../helpers/ipmi-sim';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, recordingCmq, runCmq } from '../helpers/process';
import { waitFor } from '../helpers/wait';

/**
 * Bare metal through real subscribers and PostgreSQL, one pipeline for both halves:
 * - metal.provision, metal.power and sync.metal against a FAKE Cobbler XML-RPC server
 *   (tests/helpers/fake-cobbler.ts): Cobbler itself cannot run here (no Debian package);
 * - ipmi.power and ipmi.sensors against a real BMC simulator, ipmi_sim from Debian's openipmi,
 *   on loopback ports of its own, through ipmitool -I lanplus.
 */
const TENANT = `metal-${randomBytes(3).toString('hex')}`;
const COBBLER_PASSWORD = `cobbler-${randomBytes(8).toString('hex')}`;
const BMC_PASSWORD = `Pw${randomBytes(6).toString('hex')}`;

type Result = Record<string, unknown> | null;

let fake: FakeCobbler;
let sim: IpmiSim;
let pipe: Pipeline;
let subscriber: Spawned;
const outputs: string[] = [];
const cmq = recordingCmq(() => pipe.dir, outputs);

/** Adds an account through `cmq accounts add`; returns its id. */
async function addAccount(provider: string, endpoint: string, file: string, creds: object): Promise<string> {
  writeFileSync(join(pipe.dir, file), JSON.stringify(creds));
  const added = await cmq([
    'accounts',
    'add',
    '--tenant',
    TENANT,
    '--provider',
    provider,
    '--region',
    'lab',
    '--endpoint',
    endpoint,
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

/** Submits one action (as intake does) and waits for it to end. */
async function call(type: string, args: Record<string, unknown>): Promise<ActionRow<Result>> {
  return (await waitForFinal(pipe.pool, await submit(type, args), 30_000)) as ActionRow<Result>;
}

beforeAll(async () => {
  [fake, sim, pipe] = await Promise.all([
    new FakeCobbler({ cmq: COBBLER_PASSWORD }, ['node1', 'node2', 'node3']).start(),
    IpmiSim.start(BMC_PASSWORD),
    Pipeline.create({
      config: {
        'provisioning.cfg': { mode: 'static' },
        'subscriber.properties': { 'retry.initial_delay': '200ms', 'retry.max_delay': '1s' },
      },
    }),
  ]);
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  await pipe.addTenants(TENANT);
  pipe.start('publisher');
  subscriber = pipe.start('subscriber');
  await Promise.all([pipe.running('publisher', 'main'), pipe.running('subscriber', 'default')]);
}, 120_000);

afterAll(async () => {
  await pipe?.destroy();
  await Promise.all([fake?.close(), sim?.stop()]);
}, 60_000);

describe('IPMI against ipmi_sim', () => {
  let account = '';
  let badAccount = '';

  /** Every `ps -eo args` taken while these tests run: the password must be in none of them. */
  const psSamples: string[] = [];
  let sampling = true;
  let sampler: Promise<void> = Promise.resolve();
  async function samplePs(): Promise<void> {
    while (sampling) {
      psSamples.push(
        await new Promise<string>((resolve) => execFile('ps', ['-eo', 'args'], (_err, stdout) => resolve(stdout))),
      );
      // ipmitool runs for 100-200 ms a call: a sample every 40 ms sees each run.
      await new Promise((resolve) => setTimeout(resolve, 40));
    }
  }

  beforeAll(async () => {
    sampler = samplePs();
    const endpoint = `ipmi://127.0.0.1:${sim.port}`;
    [account, badAccount] = await Promise.all([
      addAccount('ipmi', endpoint, 'bmc.json', { user: 'admin', password: BMC_PASSWORD }),
      addAccount('ipmi', endpoint, 'bmc-wrong.json', { user: 'admin', password: 'not-the-password' }),
    ]);
  }, 30_000);

  afterAll(async () => {
    sampling = false;
    await sampler;
  });

  it('the account keeps the password encrypted', async () => {
    const { rows } = await pipe.pool.query<{ credentials: string }>('SELECT credentials FROM accounts WHERE id = $1', [
      account,
    ]);
    expect(rows[0]?.credentials).toMatch(/^v1:k1:/);
    expect(rows[0]?.credentials).not.toContain(BMC_PASSWORD);
  });

  it('power off, status off, power on, status on', async () => {
    // The first through `cmq call` (intake, the mode check: ipmi.power needs mode=static).
    const called = await cmq([
      'call',
      'ipmi.power',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ account, op: 'off' }),
    ]);
    expect(called).toMatchObject({ code: 0 });
    expect(await waitForFinal(pipe.pool, called.stdout.trim(), 30_000)).toMatchObject({ state: 'succeeded' });
    expect(sim.power()).toBe('0');
    expect((await call('ipmi.power', { account, op: 'status' })).result).toEqual({ op: 'status', power: 'off' });
    expect(await call('ipmi.power', { account, op: 'on' })).toMatchObject({ state: 'succeeded' });
    expect(sim.power()).toBe('1');
    expect((await call('ipmi.power', { account, op: 'status' })).result).toEqual({ op: 'status', power: 'on' });
  });

  it('reads the sensors with thresholds; one pushed over its upper critical threshold shows cr and is a change event', async () => {
    const first = await call('ipmi.sensors', { account });
    expect(first).toMatchObject({ state: 'succeeded', result: { sensors: 3, not_ok: [], created: 3, changed: 0 } });
    const { rows: stored } = await pipe.pool.query<{ records: unknown[] }>(
      'SELECT records FROM probe_results WHERE target = $1 ORDER BY id',
      [`bmc-${account}`],
    );
    expect(stored[0]?.records).toEqual([
      {
        name: 'CPU Temp',
        value: 45,
        unit: 'degrees C',
        status: 'ok',
        thresholds: { lnr: null, lcr: null, lnc: null, unc: 70, ucr: 80, unr: 90 },
      },
      {
        name: 'Fan 1',
        value: 4800,
        unit: 'RPM',
        status: 'ok',
        thresholds: { lnr: 500, lcr: 1000, lnc: null, unc: null, ucr: null, unr: null },
      },
      {
        name: 'PSU Temp',
        value: 45,
        unit: 'degrees C',
        status: 'ok',
        thresholds: { lnr: null, lcr: null, lnc: null, unc: 70, ucr: 80, unr: 90 },
      },
    ]);

    await sim.setSensor(3, 85);
    const second = await call('ipmi.sensors', { account });
    expect(second.result).toMatchObject({
      sensors: 3,
      not_ok: [{ name: 'PSU Temp', status: 'cr', value: 85 }],
      created: 0,
      changed: 1,
    });
    const { rows } = await pipe.pool.query(
      "SELECT kind, resource_id, fields, action_id::text FROM resource_changes WHERE account_id = $1 AND change = 'changed'",
      [account],
    );
    expect(rows).toEqual([
      { kind: 'sensor', resource_id: 'PSU Temp', fields: { status: { old: 'ok', new: 'cr' } }, action_id: second.id },
    ]);
    const changes = await cmq(['changes', '--tenant', TENANT, '--kind', 'sensor']);
    expect(changes.stdout).toContain('PSU Temp');
    // cmq probes shows the latest read, with the thresholds.
    const probes = await cmq(['probes', '--tenant', TENANT, '--target', `bmc-${account}`]);
    expect(probes.stdout).toContain(
      'name=PSU Temp value=85 unit=degrees C status=cr thresholds={"lnr":null,"lcr":null,"lnc":null,"unc":70,"ucr":80,"unr":90}',
    );
    expect(probes.stdout).toContain('name=Fan 1 value=4800 unit=RPM status=ok thresholds={"lnr":500,"lcr":1000');
  });

  it('a wrong password is a clear permanent error, not retried', async () => {
    const row = await call('ipmi.power', { account: badAccount, op: 'status' });
    expect(row).toMatchObject({ state: 'dead', attempts: 1 });
    expect(row.error).toContain(`BMC 127.0.0.1:${sim.port}`);
    expect(row.error).toContain('RAKP 2 HMAC is invalid');
    expect(row.error).toContain("refused the account's user or password");
  });

  it('the password is never on a command line, in a log or in cmq output', async () => {
    sampling = false;
    await sampler;
    // The sampler saw ipmitool run (with -E), so the check below looked at its command lines.
    expect(psSamples.some((s) => /ipmitool -I lanplus .* -E /.test(s))).toBe(true);
    expect(psSamples.filter((s) => s.includes(BMC_PASSWORD))).toEqual([]);
    const shown = await cmq(['accounts', 'show', account]);
    expect(outputs.length).toBeGreaterThan(10);
    expect([...outputs, shown.stdout].filter((o) => o.includes(BMC_PASSWORD))).toEqual([]);
    const logs = textsUnder(pipe.logDir);
    expect(logs.length).toBeGreaterThan(0);
    expect(logs.filter((t) => t.includes(BMC_PASSWORD))).toEqual([]);
  });
});

describe('Cobbler (a fake XML-RPC server)', () => {
  let account = '';
  let badAccount = '';
  const reboots = (system: string): number =>
    fake.countCalls('power_system', (p) => p[0] === `system::${system}` && p[1] === 'reboot');

  beforeAll(async () => {
    [account, badAccount] = await Promise.all([
      addAccount('cobbler', fake.endpoint, 'cobbler.json', { user: 'cmq', password: COBBLER_PASSWORD }),
      addAccount('cobbler', fake.endpoint, 'cobbler-wrong.json', { user: 'cmq', password: 'not-the-password' }),
    ]);
  }, 30_000);

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

  it('a provision killed while its power-cycle is under way is rerun without a second power-cycle', async () => {
    let release = (): void => undefined;
    fake.rebootAnswerGate = new Promise<void>((resolve) => (release = resolve));
    const before = reboots('node1');
    const id = await submit('metal.provision', { account, system: 'node1', profile: 'rocky9' });
    await waitFor(() => reboots('node1') > before, 20_000, 'the provision asking for its power-cycle');
    subscriber.kill('SIGKILL');
    await subscriber.exited;
    fake.rebootAnswerGate = undefined;
    release();
    subscriber = pipe.start('subscriber');
    const row = (await waitForState(pipe.pool, id, 'succeeded', 30_000)) as ActionRow<Result>;
    // The rerun found the power-cycle recorded as asked for: it only checked that node1 is on.
    expect(row.result).toMatchObject({ power_cycled: false, resumed_after: 'cycling' });
    expect(reboots('node1')).toBe(before + 1);
    expect(fake.systems.get('node1')).toMatchObject({ profile: 'rocky9', power: 'on' });
  });

  it('the publisher schedules no sync of these accounts (cloud kinds are for local and ec2 accounts)', async () => {
    // Its first run of sync.firewalls for a new cloud account is due within 1.5 s (15 s ± 10 %).
    const { rows } = await pipe.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM actions WHERE tenant_id = $1 AND idempotency_key LIKE 'sync:%'",
      [TENANT],
    );
    expect(rows[0]?.n).toBe('0');
    const { rows: planned } = await pipe.pool.query<{ kind: string }>(
      'SELECT DISTINCT kind FROM sync_schedule ORDER BY kind',
    );
    // Only the rows recordSync keeps to serialise sync.metal and ipmi.sensors.
    expect(planned.map((r) => r.kind)).toEqual(['metal', 'sensors']);
  });

  it('neither password is in a log or a cmq output', async () => {
    const shown = await cmq(['accounts', 'show', account]);
    expect(shown.code).toBe(0);
    // Both halves' passwords, now that every action of the file has run.
    const secret = (t: string): boolean => t.includes(COBBLER_PASSWORD) || t.includes(BMC_PASSWORD);
    expect(outputs.filter(secret)).toEqual([]);
    expect(textsUnder(pipe.logDir).filter(secret)).toEqual([]);
  });
});
