import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ActionRow, waitForFinal } from '../helpers/actions';
import { textsUnder } from '../helpers/files';
import { IpmiSim } from '../helpers/ipmi-sim';
import { Pipeline } from '../helpers/pipeline';
import { recordingCmq, runCmq } from '../helpers/process';

/**
 * ipmi.power and ipmi.sensors through a real subscriber against a real BMC simulator (ipmi_sim
 * from Debian's openipmi, on a loopback port of its own), with ipmitool -I lanplus.
 */
const TENANT = `bmc-${randomBytes(3).toString('hex')}`;
const PASSWORD = `Pw${randomBytes(6).toString('hex')}`;

type Result = Record<string, unknown> | null;

let sim: IpmiSim;
let pipe: Pipeline;
let account = '';
let badAccount = '';
const outputs: string[] = [];
const cmq = recordingCmq(() => pipe.dir, outputs);

/** Every `ps -eo args` taken while the test runs: the password must be in none of them. */
const psSamples: string[] = [];
let sampling = true;
async function samplePs(): Promise<void> {
  while (sampling) {
    psSamples.push(
      await new Promise<string>((resolve) => execFile('ps', ['-eo', 'args'], (_err, stdout) => resolve(stdout))),
    );
    // ipmitool runs for 100-200 ms a call: a sample every 40 ms sees each run.
    await new Promise((resolve) => setTimeout(resolve, 40));
  }
}
let sampler: Promise<void> = Promise.resolve();

async function addAccount(file: string, password: string): Promise<string> {
  writeFileSync(join(pipe.dir, file), JSON.stringify({ user: 'admin', password }));
  const added = await cmq([
    'accounts',
    'add',
    '--tenant',
    TENANT,
    '--provider',
    'ipmi',
    '--region',
    'rack1',
    '--endpoint',
    `ipmi://127.0.0.1:${sim.port}`,
    '--credentials-file',
    join(pipe.dir, file),
  ]);
  expect(added).toMatchObject({ code: 0 });
  return /added account (\d+)/.exec(added.stdout)?.[1] ?? '';
}

/** Submits one action (as intake does) and waits for it to end. */
async function call(type: string, args: Record<string, unknown>): Promise<ActionRow<Result>> {
  const [id = ''] = await pipe.submit([{ type, tenant: TENANT, args }]);
  return (await waitForFinal(pipe.pool, id, 30_000)) as ActionRow<Result>;
}

beforeAll(async () => {
  sampler = samplePs();
  sim = await IpmiSim.start(PASSWORD);
  pipe = await Pipeline.create({ config: { 'provisioning.cfg': { mode: 'static' } } });
  const keysFile = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=k1\n`);
  await pipe.addTenants(TENANT);
  account = await addAccount('bmc.json', PASSWORD);
  badAccount = await addAccount('bmc-wrong.json', 'not-the-password');
  pipe.start('publisher');
  pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
}, 60_000);

afterAll(async () => {
  sampling = false;
  await sampler;
  await pipe?.destroy();
  await sim?.stop();
});

it('the account keeps the password encrypted', async () => {
  const { rows } = await pipe.pool.query<{ credentials: string }>('SELECT credentials FROM accounts WHERE id = $1', [
    account,
  ]);
  expect(rows[0]?.credentials).toMatch(/^v1:k1:/);
  expect(rows[0]?.credentials).not.toContain(PASSWORD);
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
  const probes = await cmq(['probes', '--tenant', TENANT, '--target', `bmc-${account}`]);
  expect(probes.code).toBe(0);
  expect(probes.stdout).toContain('name=PSU Temp value=45 unit=degrees C status=ok');
  expect(probes.stdout).toContain('"unc":70,"ucr":80,"unr":90');
  expect(probes.stdout).toContain('name=Fan 1 value=4800 unit=RPM status=ok thresholds={"lnr":500,"lcr":1000');

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
  expect((await cmq(['probes', '--tenant', TENANT, '--target', `bmc-${account}`])).stdout).toContain(
    'name=PSU Temp value=85 unit=degrees C status=cr',
  );
});

it('a wrong password is a clear permanent error, not retried', async () => {
  const row = await call('ipmi.power', { account: badAccount, op: 'status' });
  expect(row).toMatchObject({ state: 'dead', attempts: 1 });
  expect(row.error).toContain(`BMC 127.0.0.1:${sim.port}`);
  expect(row.error).toContain("refused the account's user or password");
});

it('the password is never on a command line, in a log or in cmq output', async () => {
  sampling = false;
  await sampler;
  // The sampler saw ipmitool run (with -E), so the check below looked at its command lines.
  expect(psSamples.some((s) => /ipmitool -I lanplus .* -E /.test(s))).toBe(true);
  expect(psSamples.filter((s) => s.includes(PASSWORD))).toEqual([]);
  const shown = await cmq(['accounts', 'show', account]);
  expect(outputs.length).toBeGreaterThan(10);
  expect([...outputs, shown.stdout].filter((o) => o.includes(PASSWORD))).toEqual([]);
  const logs = textsUnder(pipe.logDir);
  expect(logs.length).toBeGreaterThan(0);
  expect(logs.filter((t) => t.includes(PASSWORD))).toEqual([]);
});
