import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pipeline } from '../helpers/pipeline';
import { runCmq, recordingCmq } from '../helpers/process';
import { Sshd } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';

/**
 * `cmq nodes set|activate|deactivate` and `cmq guests activate|deactivate|remove` against a real
 * pipeline and sshd: the changes reach the node.* and guest.* handlers and the publisher's log
 * schedule, bad values are refused naming the option, and each change is audited.
 */
let pipe: Pipeline;
let sshd: Sshd;
const outputs: string[] = [];
const TENANT = 'hadm';
const cmq = recordingCmq(() => pipe.dir, outputs);
const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

function nodeArgs(name: string, statusCmd: string): string[] {
  return [
    'nodes',
    'add',
    name,
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
    statusCmd,
  ];
}

async function show(name: string): Promise<Record<string, unknown>> {
  return JSON.parse((await cmq(['nodes', 'show', name])).stdout) as Record<string, unknown>;
}

async function auditOf(target: string): Promise<Array<{ action: string; actor: string; tenant: string }>> {
  const { rows } = await pipe.pool.query<{ action: string; actor: string; tenant: string }>(
    'SELECT action, actor, tenant FROM audit_log WHERE target = $1 ORDER BY id',
    [target],
  );
  return rows;
}

beforeAll(async () => {
  sshd = await Sshd.start();
  pipe = await Pipeline.create({
    config: {
      'km-client.cfg': {},
      'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8', mode: 'static' },
      'publisher.properties': { 'logs.collect_interval': '1s', 'logs.paths': '' },
    },
  });
  const keys = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  await pipe.addTenants(TENANT);
  await pipe.startPublisherAndSubscriber();
}, 60_000);

afterAll(async () => {
  await pipe.destroy();
  await sshd.stop();
});

describe('cmq nodes set|deactivate|activate', () => {
  it('set changes the status command that node.status then runs; a new key works; audited as cli:', async () => {
    expect((await cmq(nodeArgs('a1', 'echo one'))).code).toBe(0);
    const set = await cmq(['nodes', 'set', 'a1', '--status-cmd', 'echo two']);
    expect(set).toMatchObject({ code: 0, stdout: 'changed status_cmd of node a1\n' });
    expect(await show('a1')).toMatchObject({ status_cmd: 'echo two', start_cmd: 'true' });
    const status = await cmq(['nodes', 'status', 'a1', '--wait', '--timeout', '30']);
    expect(status.code).toBe(0);
    expect(await show('a1')).toMatchObject({ last_action: 'status', last_exit_code: 0, last_output: 'two\n' });

    const keyOf = async (): Promise<string> =>
      (await pipe.pool.query<{ k: string }>("SELECT private_key AS k FROM nodes WHERE name = 'a1'")).rows[0]?.k ?? '';
    const before = await keyOf();
    const rekey = await cmq([
      'nodes',
      'set',
      'a1',
      '--key-file',
      sshd.clientKey.privatePath,
      '--port',
      String(sshd.port),
    ]);
    expect(rekey).toMatchObject({ code: 0, stdout: 'changed port, private_key of node a1\n' });
    const after = await keyOf();
    expect(after).toMatch(/^v1:k1:/);
    expect(after).not.toBe(before);
    expect((await cmq(['nodes', 'status', 'a1', '--wait', '--timeout', '30'])).code).toBe(0);

    const audit = await auditOf('a1');
    expect(audit.map((a) => a.action)).toEqual(['node.add', 'node.set', 'node.set']);
    expect(audit.every((a) => a.actor.startsWith('cli:') && a.tenant === 'cmq-platform')).toBe(true);
    const { rows } = await pipe.pool.query<{ detail: unknown }>("SELECT detail FROM audit_log WHERE target = 'a1'");
    expect(rows.map((r) => r.detail)).toContainEqual({ changed: ['port', 'private_key'], via: 'cli' });
  });

  it('bad values are refused naming the option (exit 2), nothing changed; an unknown node is exit 1', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--address', 'not a host'], /^cmq: --address: an IPv4 or IPv6 address or a host name/],
      [['--user', '.hidden'], /^cmq: --user: a login name/],
      [['--host-key', 'SHA256:short'], /^cmq: --host-key: not a SHA256:\.\.\. fingerprint/],
      [['--status-cmd', '   '], /^cmq: --status-cmd: give a shell command/],
      [[], /^cmq: nothing to change: give at least one of --address/],
    ];
    for (const [args, message] of cases) {
      const r = await cmq(['nodes', 'set', 'a1', ...args]);
      expect([args, r.code]).toEqual([args, 2]);
      expect(r.stderr).toMatch(message);
    }
    const notKey = join(pipe.dir, 'not-a-key');
    writeFileSync(notKey, 'hello\n');
    const badKey = await cmq(['nodes', 'set', 'a1', '--key-file', notKey]);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain(`--key-file ${notKey} is not a PEM or OpenSSH private key`);
    const ghost = await cmq(['nodes', 'set', 'ghost', '--status-cmd', 'true']);
    expect(ghost.code).toBe(1);
    expect(ghost.stderr).toContain('no node "ghost"');
    expect(await show('a1')).toMatchObject({ address: '127.0.0.1', user: sshd.user, status_cmd: 'echo two' });
    expect((await auditOf('a1')).length).toBe(3);
  });

  it('a deactivated node is not started (naming the flag) but can be stopped and checked; activated, it starts', async () => {
    expect((await cmq(['nodes', 'deactivate', 'a1'])).stdout).toBe('deactivated node a1\n');
    expect((await cmq(['nodes', 'deactivate', 'a1'])).stdout).toBe('already deactivated: node a1\n');
    const lastAt = (await show('a1')).last_at;
    const start = await cmq(['nodes', 'start', 'a1', '--wait', '--timeout', '30']);
    expect(start.code).toBe(1);
    expect(start.stdout).toContain('node a1 is inactive: node.start was not run (cmq nodes activate a1)');
    expect(await show('a1')).toMatchObject({ active: false, last_at: lastAt });
    for (const which of ['stop', 'status']) {
      const r = await cmq(['nodes', which, 'a1', '--wait', '--timeout', '30']);
      expect([which, r.code]).toEqual([which, 0]);
      expect(await show('a1')).toMatchObject({ active: false, last_action: which, last_exit_code: 0 });
    }
    expect((await cmq(['nodes', 'activate', 'a1'])).stdout).toBe('activated node a1\n');
    expect((await cmq(['nodes', 'start', 'a1', '--wait', '--timeout', '30'])).code).toBe(0);
    expect((await cmq(['nodes', 'deactivate', 'ghost'])).code).toBe(1);
    expect((await auditOf('a1')).map((a) => a.action).slice(3)).toEqual([
      'node.deactivate',
      'node.deactivate',
      'node.activate',
    ]);
  });
});

describe('cmq guests deactivate|activate|remove', () => {
  const guestAdd = (id: string): string[] => [
    ...sshd.guestAddArgs(TENANT),
    '--name',
    id,
    '--log-paths',
    join(sshd.writableDir(), `${id}.log`),
  ];

  /** Scheduled collections of `guest` inserted after `since` (a database time). */
  async function collectionsSince(guest: string, since: string): Promise<number> {
    const { rows } = await pipe.pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM actions WHERE type = 'guest.logs.collect' AND tenant_id = $1
         AND args->>'guest' = $2 AND created_at > $3::timestamptz`,
      [TENANT, guest, since],
    );
    return rows[0]?.n ?? 0;
  }

  it('an inactive guest: guest.exec ends dead naming the flag, and no log collection is scheduled for it', async () => {
    expect((await cmq(guestAdd('g1'))).code).toBe(0);
    expect((await cmq(guestAdd('g2'))).code).toBe(0);
    const listed = lines((await cmq(['guests', 'list', '--tenant', TENANT, '--json'])).stdout).map(
      (l) => JSON.parse(l) as Record<string, unknown>,
    );
    expect(listed.map((g) => [g.id, g.active])).toEqual([
      ['g1', true],
      ['g2', true],
    ]);
    const off = await cmq(['guests', 'deactivate', 'g1', '--tenant', TENANT]);
    expect(off).toMatchObject({ code: 0, stdout: `deactivated guest g1 of tenant ${TENANT}\n` });
    const { rows } = await pipe.pool.query<{ now: string }>('SELECT now()::text AS now');
    const since = rows[0]?.now ?? '';
    const exec = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      TENANT,
      '--args',
      '{"guest":"g1","command":"echo never"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(exec.code).toBe(1);
    expect(exec.stdout).toContain(`guest "g1" of tenant "${TENANT}" is inactive: nothing was run`);
    await waitFor(async () => (await collectionsSince('g2', since)) >= 3, 20_000, 'three collections of g2');
    expect(await collectionsSince('g1', since)).toBe(0);
    expect((await cmq(['guests', 'list', '--tenant', TENANT])).stdout).toMatch(/ g1 .* no /);
  });

  it('remove: refused while active or unknown (exit 1); an inactive one goes with its log offsets; audited', async () => {
    const active = await cmq(['guests', 'remove', 'g2', '--tenant', TENANT]);
    expect(active.code).toBe(1);
    expect(active.stderr).toContain(`guest g2 of tenant ${TENANT} is active: deactivate it first`);
    expect((await cmq(['guests', 'remove', 'nope', '--tenant', TENANT])).code).toBe(1);
    await pipe.pool.query(
      `INSERT INTO guest_log_offsets (tenant_id, guest_id, path, inode, "offset", local_size) VALUES ($1, 'g1', '/x.log', 1, 0, 0)`,
      [TENANT],
    );
    const removed = await cmq(['guests', 'remove', 'g1', '--tenant', TENANT]);
    expect(removed).toMatchObject({ code: 0, stdout: `removed guest g1 of tenant ${TENANT}\n` });
    const { rows } = await pipe.pool.query("SELECT 1 FROM guest_log_offsets WHERE guest_id = 'g1'");
    expect(rows).toEqual([]);
    expect((await cmq(['guests', 'activate', 'g1', '--tenant', TENANT])).code).toBe(1);
    expect((await cmq(['guests', 'activate', 'g2', '--tenant', TENANT])).stdout).toBe(
      `already activated: guest g2 of tenant ${TENANT}\n`,
    );
    expect((await auditOf('g1')).map((a) => [a.action, a.tenant])).toEqual([
      ['guest.add', TENANT],
      ['guest.deactivate', TENANT],
      ['guest.remove', TENANT],
    ]);
  });

  it('a launched server’s guest is not removed by hand', async () => {
    expect((await cmq(guestAdd('srv1'))).code).toBe(0);
    // A disabled account (nothing syncs it) whose running server has srv1 as its guest.
    await pipe.pool.query(
      `INSERT INTO accounts (tenant_id, provider, region, credentials, enabled) VALUES ($1, 'local', 'lo', 'v1:k1:x:y:z', false)`,
      [TENANT],
    );
    await pipe.pool.query(
      `INSERT INTO servers (tenant_id, account_id, server_id, state, guest_id)
       SELECT $1, id, 'i-1', 'running', 'srv1' FROM accounts WHERE tenant_id = $1`,
      [TENANT],
    );
    expect((await cmq(['guests', 'deactivate', 'srv1', '--tenant', TENANT])).code).toBe(0);
    const r = await cmq(['guests', 'remove', 'srv1', '--tenant', TENANT]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('is the guest of server i-1 (running) that the platform launched');
  });

  it('no private key reaches any cmq output', () => {
    const body = sshd.clientKey.privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    for (const text of outputs) {
      // The armour alone shows in the refusal of a file that is not a key; a key's would be followed by its body.
      expect(text).not.toContain('PRIVATE KEY-----\n');
      for (const line of body) expect(text).not.toContain(line);
    }
  });
});
