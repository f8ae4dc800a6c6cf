import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { actionRow } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { type Spawned, logLines, runCmq, recordingCmq } from '../helpers/process';
import { Sshd } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';
import { textsUnder } from '../helpers/files';

let pipe: Pipeline;
let sshd: Sshd;
let work: string;
let subscriber: Spawned;
const outputs: string[] = [];

const cmq = recordingCmq(() => pipe.dir, outputs);

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

beforeAll(async () => {
  sshd = await Sshd.start();
  work = sshd.writableDir();
  // No scheduled log collection during these tests (slots are aligned to the interval: the next
  // one is at midnight UTC): a collection from a guest of the same sshd would add its own line to
  // the host-key test's security lines. tests/e2e/guest-logs*.test.ts cover collection.
  pipe = await Pipeline.create({
    config: {
      'km-client.cfg': {},
      'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8', 'ssh.output_cap': '4096' },
      'publisher.properties': { 'logs.collect_interval': '24h' },
    },
  });
  const keys = join(pipe.dir, 'km.keys');
  const gen = await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1']);
  outputs.push(gen.stdout, gen.stderr);
  expect(gen.code).toBe(0);
  expect(statSync(keys).mode & 0o777).toBe(0o600);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  await pipe.addTenants('t1');
  pipe.start('publisher');
  subscriber = pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
});

afterAll(async () => {
  await pipe.destroy();
  await sshd.stop();
});

describe('guest.exec through the pipeline against a real sshd', () => {
  it('adds a guest with an encrypted key and runs a command: exit code and output', async () => {
    const add = await cmq([...sshd.guestAddArgs('t1'), '--name', 'web1']);
    expect(add).toMatchObject({ code: 0, stdout: 'added guest web1 of tenant t1\n' });
    const { rows } = await pipe.pool.query<{ private_key: string }>("SELECT private_key FROM guests WHERE id = 'web1'");
    expect(rows[0]?.private_key).toMatch(/^v1:k1:/);
    const list = await cmq(['guests', 'list', '--json']);
    expect(JSON.parse(lines(list.stdout)[0] ?? '')).toMatchObject({
      tenant_id: 't1',
      id: 'web1',
      port: sshd.port,
      user: sshd.user,
      host_key_fingerprint: sshd.hostKey.fingerprint,
      trust_on_first_use: false,
    });

    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command: 'echo hello $WHO', env: { WHO: 'ops' } }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(0);
    const [id, state, result] = lines(res.stdout);
    expect(state).toBe(`${id} succeeded`);
    expect(JSON.parse(result ?? '')).toEqual({ code: 0, stdout: 'hello ops\n', stderr: '', truncated: false });

    const failed = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      '{"guest":"web1","command":"echo no >&2; exit 4"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ failed\n/);
    expect(failed.stdout).toContain('command exited 4');
  });

  it('output with a NUL byte (which PostgreSQL text cannot hold) is kept with the NUL written \\u0000; other outcomes are not held up', async () => {
    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command: "printf 'a\\000b'; printf 'c\\000' >&2" }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(0);
    const [id, state, result] = lines(res.stdout);
    expect(state).toBe(`${id} succeeded`);
    expect(JSON.parse(result ?? '')).toEqual({ code: 0, stdout: 'a\\u0000b', stderr: 'c\\u0000', truncated: false });
    const noop = await cmq(['call', 'noop', '--tenant', 't1', '--wait', '--timeout', '30']);
    expect(noop.code).toBe(0);
  });

  it('output with terminal escape sequences reaches cmq logs and cmq actions with the control characters shown, not sent', async () => {
    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command: "printf '\\033]0;retitled\\007\\n'; printf '\\033[2J' >&2; exit 5" }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(1);
    const [id = ''] = lines(res.stdout);
    const logs = await cmq(['logs', 't1']);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain('\\u001b]0;retitled\\u0007');
    const listed = await cmq(['actions', '--tenant', 't1', '--type', 'guest.exec', '--limit', '200']);
    const shown = await cmq(['actions', 'show', id]);
    const control = (text: string): string[] =>
      [...text].filter((c) => {
        const n = c.charCodeAt(0);
        return (n < 32 && n !== 9 && n !== 10) || (n >= 0x7f && n <= 0x9f);
      });
    for (const out of [logs.stdout, res.stdout, listed.stdout, shown.stdout]) expect(control(out)).toEqual([]);
  });

  it('a command past its timeout is killed and the action fails with a timeout reason', async () => {
    const marker = join(work, 'late-marker');
    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command: `sleep 3; touch ${marker}`, timeout: 0.5 }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/ failed\n/);
    expect(res.stdout).toContain('command timed out after 0.5 s and was killed');
    // A fixed wait on purpose: past the 3 s the command would have slept, the kill must have
    // kept it from touching the marker.
    await new Promise((r) => setTimeout(r, 3_500));
    expect(existsSync(marker)).toBe(false);
  });

  it('streams output lines to the tenant log as they come, before the action ends; env values never logged', async () => {
    const secret = `tok-${randomBytes(8).toString('hex')}`;
    const tenantLog = join(pipe.logDir, 'tenants', 't1.log');
    const outputLines = (): Array<Record<string, unknown>> => logLines(tenantLog).filter((l) => l.msg === 'ssh output');
    const before = outputLines().length;
    // The command waits (at most 60 s) for a gate file the test creates once it has looked:
    // no race with a loaded machine's CLI start, relay and handshake.
    const gate = join(pipe.dir, `gate-${randomBytes(4).toString('hex')}`);
    const command = `echo "first $TOKEN"; echo warn-line >&2; i=0; while [ ! -e ${gate} ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; echo last`;
    const call = cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command, env: { TOKEN: secret } }),
      '--wait',
      '--timeout',
      '30',
    ]);
    // While the command sleeps: its first lines are in the tenant log, and the action still runs.
    await waitFor(() => outputLines().length >= before + 2, 30_000, 'the first two output lines in the tenant log');
    const early = outputLines().slice(before);
    const id = String(early[0]?.action);
    expect(early).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          tenant: 't1',
          action: id,
          guest: 'web1',
          host: `${sshd.user}@127.0.0.1:${sshd.port}`,
          stream: 'stdout',
          line: 'first ****',
        }),
        expect.objectContaining({ action: id, stream: 'stderr', line: 'warn-line' }),
      ]),
    );
    expect((await actionRow(pipe.pool, id)).state).toBe('running');

    writeFileSync(gate, '');
    const res = await call;
    expect(res.code).toBe(0);
    const [doneId, state, result] = lines(res.stdout);
    expect(doneId).toBe(id);
    expect(state).toBe(`${id} succeeded`);
    // The result keeps the output, the env value masked (tests/e2e/guest-exec-secrets.test.ts).
    expect(JSON.parse(result ?? '')).toEqual({
      code: 0,
      stdout: `first ****\nlast\n`,
      stderr: 'warn-line\n',
      truncated: false,
    });
    const mine = logLines(tenantLog).filter((l) => l.action === id);
    expect(mine.filter((l) => l.msg === 'ssh output').map((l) => l.line)).toEqual(['first ****', 'warn-line', 'last']);
    expect(mine).toEqual(
      expect.arrayContaining([expect.objectContaining({ msg: 'ssh command started', env: ['TOKEN'] })]),
    );
    for (const text of textsUnder(pipe.logDir)) expect(text).not.toContain(secret);
  });

  it('logs output up to ssh.output_cap, then one "output truncated" line', async () => {
    const tenantLog = join(pipe.logDir, 'tenants', 't1.log');
    // Lines of 100 bytes against ssh.output_cap=4096: 40 whole lines and a cut one, then nothing.
    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command: 'yes "$(printf "%099d" 0)" | head -n 20000' }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(0);
    const [id, , result] = lines(res.stdout);
    const out = JSON.parse(result ?? '') as { stdout: string; truncated: boolean };
    expect(out.truncated).toBe(true);
    const mine = logLines(tenantLog).filter((l) => l.action === id);
    const logged = mine.filter((l) => l.msg === 'ssh output').map((l) => String(l.line));
    expect(logged.join('\n').length).toBeLessThanOrEqual(out.stdout.length);
    expect(logged.length).toBe(41);
    expect(out.stdout.length).toBe(4096);
    expect(mine.filter((l) => String(l.msg).startsWith('output truncated'))).toEqual([
      expect.objectContaining({ level: 'warn', stream: 'stdout', guest: 'web1' }),
    ]);
  });

  it('cmq guests add --log-paths keeps the paths and lists them; a relative path is refused, named', async () => {
    const common = sshd.guestAddArgs('t1');
    const add = await cmq([...common, '--name', 'logs1', '--log-paths', '/var/log/app.log,/srv/app/worker.log']);
    expect(add).toMatchObject({ code: 0, stdout: 'added guest logs1 of tenant t1\n' });
    const json = lines((await cmq(['guests', 'list', '--tenant', 't1', '--json'])).stdout).map(
      (l) => JSON.parse(l) as Record<string, unknown>,
    );
    expect(json.find((g) => g.id === 'logs1')).toMatchObject({
      log_paths: ['/var/log/app.log', '/srv/app/worker.log'],
    });
    expect(json.find((g) => g.id === 'web1')).toMatchObject({ log_paths: null });
    const table = (await cmq(['guests', 'list', '--tenant', 't1'])).stdout;
    expect(table).toMatch(/^TENANT +GUEST +TARGET +HOST KEY +ACTIVE +LOG PATHS +CREATED/);
    expect(lines(table).find((l) => / logs1 /.test(l))).toContain('/var/log/app.log,/srv/app/worker.log');
    expect(lines(table).find((l) => / web1 /.test(l))).toContain('(logs.paths)');

    const bad = await cmq([...common, '--name', 'logs2', '--log-paths', '/var/log/ok.log,var/log/relative.log']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--log-paths: log path "var/log/relative.log" is not absolute');
    const dotted = await cmq([...common, '--name', 'logs2', '--log-paths', '/var/log/../../etc/shadow']);
    expect(dotted.code).toBe(2);
    expect(dotted.stderr).toContain('"/var/log/../../etc/shadow" has a . or .. segment');
    const { rows } = await pipe.pool.query("SELECT 1 FROM guests WHERE id = 'logs2'");
    expect(rows).toEqual([]);
  });

  it('a guest the platform launched (trust on first use) has its host key recorded on first contact', async () => {
    const { rows } = await pipe.pool.query<{ private_key: string }>("SELECT private_key FROM guests WHERE id = 'web1'");
    await pipe.pool.query(
      `INSERT INTO guests (tenant_id, id, address, port, "user", private_key, trust_on_first_use) VALUES ('t1', 'launched1', '127.0.0.1', $1, $2, $3, true)`,
      [sshd.port, sshd.user, rows[0]?.private_key],
    );
    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      '{"guest":"launched1","command":"true"}',
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(0);
    const after = await pipe.pool.query<{ host_key_fingerprint: string | null }>(
      "SELECT host_key_fingerprint FROM guests WHERE id = 'launched1'",
    );
    expect(after.rows[0]?.host_key_fingerprint).toBe(sshd.hostKey.fingerprint);
  });

  it('a changed host key: dead with the reason, a security line in the tenant log, and no command run', async () => {
    const old = sshd.hostKey.fingerprint;
    await sshd.restart({ newHostKey: true });
    const marker = join(work, 'marker');
    const res = await cmq([
      'call',
      'guest.exec',
      '--tenant',
      't1',
      '--args',
      JSON.stringify({ guest: 'web1', command: `touch ${marker}` }),
      '--wait',
      '--timeout',
      '30',
    ]);
    expect(res.code).toBe(1);
    const [id, state] = lines(res.stdout);
    expect(state).toBe(`${id} dead`);
    expect(res.stdout).toContain(`is ${sshd.hostKey.fingerprint}, not the pinned ${old}`);
    expect(existsSync(marker)).toBe(false);
    const tenantLog = readFileSync(join(pipe.logDir, 'tenants', 't1.log'), 'utf8');
    const security = lines(tenantLog)
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.security === true);
    expect(security).toEqual([
      expect.objectContaining({
        level: 'warn',
        tenant: 't1',
        guest: 'web1',
        expected: old,
        seen: sshd.hostKey.fingerprint,
      }),
    ]);
  });

  it('the subscriber stops cleanly with a pooled SSH connection open: exit 0, the connection closed with a disconnect', async () => {
    const add = await cmq([...sshd.guestAddArgs('t1'), '--name', 'web9']);
    expect(add.code).toBe(0);
    for (let i = 0; i < 3; i += 1) {
      const res = await cmq([
        'call',
        'guest.exec',
        '--tenant',
        't1',
        '--args',
        '{"guest":"web9","command":"true"}',
        '--wait',
        '--timeout',
        '30',
      ]);
      expect(res.code).toBe(0);
    }
    // Three commands, one connection: sshd accepted one login since its restart.
    expect(sshd.output.match(/Accepted publickey/g)).toHaveLength(1);
    expect(sshd.output).not.toMatch(/Disconnected from user/);
    const logged = sshd.output.length;
    subscriber.kill('SIGTERM');
    expect(await subscriber.exitCode()).toBe(0);
    // 11: SSH_DISCONNECT_BY_APPLICATION, sent by the pool's close (a killed process would just drop the TCP connection).
    await waitFor(
      () => /Received disconnect from 127\.0\.0\.1 port \d+:11/.test(sshd.output.slice(logged)),
      5_000,
      "sshd to log the client's disconnect",
    );
  });

  it('no secret reaches a log file or any cmq output', () => {
    const privateKeyBody = sshd.clientKey.privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    const kmKey = readFileSync(join(pipe.dir, 'km.keys'), 'utf8').trim().split('=').slice(1).join('=');
    const texts = [...textsUnder(pipe.logDir), ...outputs];
    expect(texts.length).toBeGreaterThan(3);
    for (const text of texts) {
      expect(text).not.toContain(kmKey);
      for (const line of privateKeyBody) expect(text).not.toContain(line);
      expect(text).not.toContain('PRIVATE KEY');
    }
  });
});
