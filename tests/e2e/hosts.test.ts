import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { actionRow } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { runCmq, recordingCmq } from '../helpers/process';
import { Sshd } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

let pipe: Pipeline;
let sshd: Sshd;
let work: string;
let bin: string;
const outputs: string[] = [];
const TENANT = `probes-${process.pid}`;

const cmq = recordingCmq(() => pipe.dir, outputs);

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

/** A fake command on the test user's PATH that prints a recorded output (and exits `code`). */
function fakeCommand(name: string, fixture: string, code = 0): void {
  const out = join(bin, `${name}.out`);
  copyFileSync(join(__dirname, '..', 'fixtures', 'probes', fixture), out);
  writeFileSync(join(bin, name), `#!/bin/sh\ncat ${out}\nexit ${code}\n`, { mode: 0o755 });
}

async function keyring(dir: string): Promise<void> {
  const keys = join(dir, 'km.keys');
  const gen = await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1']);
  expect(gen.code).toBe(0);
  writeFileSync(join(dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  const dir = (await import('../helpers/config-dir')).tempDir('cmq-fake-bin-');
  (await import('node:fs')).chmodSync(dir, 0o755);
  bin = dir;
  sshd = await Sshd.start([`SetEnv PATH=${bin}:/usr/local/bin:/usr/bin:/bin`]);
  work = sshd.writableDir();
  fakeCommand('qstat', 'qstat-Q.txt');
  fakeCommand('ipmitool', 'ipmitool-sensor.txt');
  pipe = await Pipeline.create({
    config: { 'km-client.cfg': {}, 'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8', mode: 'static' } },
  });
  await keyring(pipe.dir);
  await pipe.addTenants(TENANT);
  await pipe.startPublisherAndSubscriber();
  const add = await cmq([...sshd.guestAddArgs(TENANT), '--name', 'hpc1']);
  expect(add.code).toBe(0);
});

afterAll(async () => {
  await pipe.destroy();
  await sshd.stop();
});

describe('host.probe against fake qstat/ipmitool on a real sshd', () => {
  it('pbs-qstat: records in PostgreSQL, the latest in Redis, shown by cmq probes; the odd line kept raw with a warning', async () => {
    const res = await cmq([
      'call',
      'host.probe',
      '--tenant',
      TENANT,
      '--args',
      '{"target":"hpc1","probe":"pbs-qstat"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(0);
    expect(JSON.parse(lines(res.stdout)[2] ?? '')).toEqual({ records: 5, warnings: 1, code: 0 });
    const shown = await cmq(['probes', '--tenant', TENANT, '--target', 'hpc1', '--json']);
    const [latest] = lines(shown.stdout).map(
      (l) => JSON.parse(l) as { probe: string; records: unknown[]; warnings: string[] },
    );
    expect(latest?.probe).toBe('pbs-qstat');
    expect(latest?.records[0]).toEqual({
      queue: 'workq',
      max: 0,
      total: 12,
      enabled: true,
      started: true,
      queued: 8,
      running: 3,
      held: 1,
      waiting: 0,
      transit: 0,
      exiting: 0,
      type: 'Exec',
    });
    expect(latest?.records[4]).toEqual({ raw: 'qstat: Warning: server pbs01 is slow to respond' });
    expect(latest?.warnings).toEqual([expect.stringContaining('slow to respond')]);
    const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      const cached = JSON.parse((await redis.get(`cmq:probe:${TENANT}:hpc1:pbs-qstat`)) ?? '{}') as {
        records?: unknown[];
      };
      expect(cached.records).toEqual(latest?.records);
      await redis.del(`cmq:probe:${TENANT}:hpc1:pbs-qstat`, `cmq:probe:${TENANT}:hpc1:ipmi-sensor`);
    } finally {
      redis.disconnect();
    }
  });

  it('ipmi-sensor and command probes; cmq probes shows the latest of each', async () => {
    const ipmi = await cmq([
      'call',
      'host.probe',
      '--tenant',
      TENANT,
      '--args',
      '{"target":"hpc1","probe":"ipmi-sensor"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(ipmi.code).toBe(0);
    const cmd = await cmq([
      'call',
      'host.probe',
      '--tenant',
      TENANT,
      '--args',
      '{"target":"hpc1","probe":"command","command":"echo load 0.5"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(cmd.code).toBe(0);
    const shown = await cmq(['probes', '--tenant', TENANT, '--target', 'hpc1']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('ipmi-sensor on hpc1');
    expect(shown.stdout).toContain(
      'name=CPU Temp value=42 unit=degrees C status=ok thresholds={"lnr":0,"lcr":0,"lnc":0,"unc":95,"ucr":100,"unr":100}',
    );
    expect(shown.stdout).toContain('raw=Get HPM.x Capabilities request failed, compcode = c9');
    expect(shown.stdout).toContain('output=load 0.5');
    expect(shown.stdout).toMatch(/pbs-qstat on hpc1 .*5 records, 1 warnings/);
  });

  it('a probe whose output holds a NUL byte is recorded, the NUL written \\u0000', async () => {
    const cmd = await cmq([
      'call',
      'host.probe',
      '--tenant',
      TENANT,
      '--args',
      JSON.stringify({ target: 'hpc1', probe: 'command', command: "printf 'bin\\000ary\\n'" }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(cmd.code).toBe(0);
    const shown = await cmq(['probes', '--tenant', TENANT, '--target', 'hpc1', '--json']);
    const latest = lines(shown.stdout)
      .map((l) => JSON.parse(l) as { probe: string; records: unknown[] })
      .find((r) => r.probe === 'command');
    expect(JSON.stringify(latest?.records)).toContain('bin\\\\u0000ary');
  });

  it('a probe command that fails is stored with its exit code and ends failed; a missing command argument is refused', async () => {
    fakeCommand('qstat', 'qstat-Q.txt', 2);
    const res = await cmq([
      'call',
      'host.probe',
      '--tenant',
      TENANT,
      '--args',
      '{"target":"hpc1","probe":"pbs-qstat"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(1);
    expect(res.stdout).toContain('probe command "qstat -Q" exited 2');
    const { rows } = await pipe.pool.query<{ exit_code: number }>(
      "SELECT exit_code FROM probe_results WHERE probe = 'pbs-qstat' ORDER BY id DESC LIMIT 1",
    );
    expect(rows[0]?.exit_code).toBe(2);
    const bad = await cmq(['call', 'host.probe', '--tenant', TENANT, '--args', '{"target":"hpc1","probe":"command"}']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('command is required with probe=command');
  });
});

describe('nodes: start/stop/status of a real process over SSH', () => {
  it('adds a node (key encrypted, never printed), starts, checks, stops a process; the last status is kept', async () => {
    const pidFile = join(work, 'worker.pid');
    const add = await cmq([
      'nodes',
      'add',
      'n1',
      '--address',
      '127.0.0.1',
      '--port',
      String(sshd.port),
      '--user',
      sshd.user,
      '--key-file',
      sshd.clientKey.privatePath,
      '--host-key',
      sshd.hostKey.fingerprint,
      '--start-cmd',
      `sleep 300 >/dev/null 2>&1 & echo $! > ${pidFile}; echo started`,
      '--status-cmd',
      `if [ -f ${pidFile} ] && kill -0 "$(cat ${pidFile})" 2>/dev/null; then echo running; else echo stopped; exit 3; fi`,
      '--stop-cmd',
      `kill "$(cat ${pidFile})" && rm ${pidFile} && echo stopped`,
    ]);
    expect(add).toMatchObject({ code: 0, stdout: 'added node n1\n' });
    const { rows } = await pipe.pool.query<{ private_key: string }>("SELECT private_key FROM nodes WHERE name = 'n1'");
    expect(rows[0]?.private_key).toMatch(/^v1:k1:/);

    const start = await cmq(['nodes', 'start', 'n1', '--wait', '--timeout', '30']);
    expect(start.code).toBe(0);
    expect(lines(start.stdout)[1]).toMatch(/ succeeded$/);
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(processAlive(pid)).toBe(true);

    const status = await cmq(['nodes', 'status', 'n1', '--wait', '--timeout', '30']);
    expect(status.code).toBe(0);
    const listed = JSON.parse(lines((await cmq(['nodes', 'list', '--json'])).stdout)[0] ?? '') as Record<
      string,
      unknown
    >;
    expect(listed).toMatchObject({
      name: 'n1',
      active: true,
      last_action: 'status',
      last_exit_code: 0,
      last_output: 'running\n',
    });
    expect(listed).not.toHaveProperty('private_key');

    const stop = await cmq(['nodes', 'stop', 'n1', '--wait', '--timeout', '30']);
    expect(stop.code).toBe(0);
    await waitFor(() => !processAlive(pid), 5_000, 'the node process to exit');
    expect(existsSync(pidFile)).toBe(false);

    const after = await cmq(['nodes', 'status', 'n1', '--wait', '--timeout', '30']);
    expect(after.code).toBe(1);
    expect(after.stdout).toContain('node status command exited 3');
    const table = await cmq(['nodes', 'list']);
    expect(table.stdout).toMatch(/n1 .* status exit 3 at /);
    const show = await cmq(['nodes', 'show', 'n1']);
    expect(JSON.parse(show.stdout)).toMatchObject({ name: 'n1', last_exit_code: 3, last_output: 'stopped\n' });
  });

  it('an inactive node is not started; node actions of another tenant are refused; remove forgets the node', async () => {
    const marker = join(work, 'inactive-started');
    const add = await cmq([
      'nodes',
      'add',
      'n2',
      '--inactive',
      '--address',
      '127.0.0.1',
      '--port',
      String(sshd.port),
      '--user',
      sshd.user,
      '--key-file',
      sshd.clientKey.privatePath,
      '--host-key',
      sshd.hostKey.fingerprint,
      '--start-cmd',
      `touch ${marker}`,
      '--stop-cmd',
      'true',
      '--status-cmd',
      'true',
    ]);
    expect(add.code).toBe(0);
    const start = await cmq(['nodes', 'start', 'n2', '--wait', '--timeout', '30']);
    expect(start.code).toBe(1);
    expect(start.stdout).toContain('node n2 is inactive');
    const foreign = await cmq([
      'call',
      'node.start',
      '--tenant',
      TENANT,
      '--args',
      '{"node":"n1"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(foreign.code).toBe(1);
    expect(foreign.stdout).toContain('node actions belong to tenant cmq-platform');
    expect(existsSync(marker)).toBe(false);
    expect((await cmq(['nodes', 'remove', 'n2'])).stdout).toBe('removed node n2\n');
    expect((await cmq(['nodes', 'show', 'n2'])).code).toBe(1);
  });

  it('a node command printing a NUL byte: its status is kept, the NUL written \\u0000', async () => {
    const add = await cmq([
      'nodes',
      'add',
      'n3',
      '--address',
      '127.0.0.1',
      '--port',
      String(sshd.port),
      '--user',
      sshd.user,
      '--key-file',
      sshd.clientKey.privatePath,
      '--host-key',
      sshd.hostKey.fingerprint,
      '--start-cmd',
      'true',
      '--stop-cmd',
      'true',
      '--status-cmd',
      "printf 'up\\000\\n'",
    ]);
    expect(add.code).toBe(0);
    const status = await cmq(['nodes', 'status', 'n3', '--wait', '--timeout', '30']);
    expect(status.code).toBe(0);
    expect(JSON.parse((await cmq(['nodes', 'show', 'n3'])).stdout)).toMatchObject({
      name: 'n3',
      last_exit_code: 0,
      last_output: 'up\\u0000\n',
    });
    expect((await cmq(['nodes', 'remove', 'n3'])).code).toBe(0);
  });

  it('no private key reaches any cmq output', () => {
    const body = sshd.clientKey.privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    for (const text of outputs) {
      expect(text).not.toContain('PRIVATE KEY');
      for (const line of body) expect(text).not.toContain(line);
    }
  });
});

describe('passive mode refuses node actions', () => {
  let passive: Pipeline;
  afterAll(async () => {
    await passive.destroy();
  });

  it('node.start is refused at intake, or ends rejected when it got in, with the reason naming provisioning.cfg mode; nothing runs', async () => {
    passive = await Pipeline.create({
      config: { 'km-client.cfg': {}, 'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8', mode: 'passive' } },
    });
    await keyring(passive.dir);
    passive.start('publisher');
    passive.start('subscriber');
    await passive.running('publisher', 'main');
    await passive.running('subscriber', 'default');
    const marker = join(work, 'passive-started');
    const add = await cmq(
      [
        'nodes',
        'add',
        'p1',
        '--address',
        '127.0.0.1',
        '--port',
        String(sshd.port),
        '--user',
        sshd.user,
        '--key-file',
        sshd.clientKey.privatePath,
        '--host-key',
        sshd.hostKey.fingerprint,
        '--start-cmd',
        `touch ${marker}`,
        '--stop-cmd',
        'true',
        '--status-cmd',
        'true',
      ],
      passive.dir,
    );
    expect(add.code).toBe(0);
    const start = await cmq(['nodes', 'start', 'p1', '--wait', '--timeout', '30'], passive.dir);
    expect(start.code).not.toBe(0);
    expect(start.code).toBe(2);
    expect(start.stderr).toContain('provisioning.cfg mode=passive refuses node.start');
    // A row inserted without the intake check (an older requester) is rejected by the subscriber.
    const [id = ''] = await passive.submit([{ type: 'node.start', tenant: 'cmq-platform', args: { node: 'p1' } }]);
    await passive.allFinal(30_000, [id]);
    const row = await actionRow(passive.pool, id);
    expect(row.state).toBe('rejected');
    expect(row.error).toContain('provisioning.cfg mode=passive refuses node.start');
    expect(existsSync(marker)).toBe(false);
  });
});
