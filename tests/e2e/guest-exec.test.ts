import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Pipeline } from '../helpers/pipeline';
import { runCmq } from '../helpers/process';
import { Sshd } from '../helpers/sshd';

let pipe: Pipeline;
let sshd: Sshd;
let work: string;
const outputs: string[] = [];

async function cmq(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const res = await runCmq([...args, '--config-dir', pipe.dir]);
  outputs.push(res.stdout, res.stderr);
  return res;
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

beforeAll(async () => {
  sshd = await Sshd.start();
  work = sshd.writableDir();
  pipe = await Pipeline.create({ config: { 'km-client.cfg': {}, 'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8' } } });
  const keys = join(pipe.dir, 'km.keys');
  const gen = await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1']);
  outputs.push(gen.stdout, gen.stderr);
  expect(gen.code).toBe(0);
  expect(statSync(keys).mode & 0o777).toBe(0o600);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  await pipe.addTenants('t1');
  await pipe.startPublisherAndSubscriber();
});

afterAll(async () => {
  await pipe.destroy();
  await sshd.stop();
});

describe('guest.exec through the pipeline against a real sshd', () => {
  it('adds a guest with an encrypted key and runs a command: exit code and output', async () => {
    const add = await cmq(['guests', 'add', '--tenant', 't1', '--address', '127.0.0.1', '--port', String(sshd.port), '--user', sshd.user, '--key-file', sshd.clientKey.privatePath, '--host-key', sshd.hostKey.fingerprint, '--name', 'web1']);
    expect(add).toMatchObject({ code: 0, stdout: 'added guest web1 of tenant t1\n' });
    const { rows } = await pipe.pool.query<{ private_key: string }>("SELECT private_key FROM guests WHERE id = 'web1'");
    expect(rows[0]?.private_key).toMatch(/^v1:k1:/);
    const list = await cmq(['guests', 'list', '--json']);
    expect(JSON.parse(lines(list.stdout)[0] ?? '')).toMatchObject({ tenant_id: 't1', id: 'web1', port: sshd.port, user: sshd.user, host_key_fingerprint: sshd.hostKey.fingerprint, trust_on_first_use: false });

    const res = await cmq(['call', 'guest.exec', '--tenant', 't1', '--args', JSON.stringify({ guest: 'web1', command: 'echo hello $WHO', env: { WHO: 'ops' } }), '--wait', '--timeout', '30']);
    expect(res.code).toBe(0);
    const [id, state, result] = lines(res.stdout);
    expect(state).toBe(`${id} succeeded`);
    expect(JSON.parse(result ?? '')).toEqual({ code: 0, stdout: 'hello ops\n', stderr: '', truncated: false });

    const failed = await cmq(['call', 'guest.exec', '--tenant', 't1', '--args', '{"guest":"web1","command":"echo no >&2; exit 4"}', '--wait', '--timeout', '30']);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/ failed\n/);
    expect(failed.stdout).toContain('command exited 4');
  });

  it('a command past its timeout is killed and the action fails with a timeout reason', async () => {
    const marker = join(work, 'late-marker');
    const res = await cmq(['call', 'guest.exec', '--tenant', 't1', '--args', JSON.stringify({ guest: 'web1', command: `sleep 3; touch ${marker}`, timeout: 0.5 }), '--wait', '--timeout', '30']);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/ failed\n/);
    expect(res.stdout).toContain('command timed out after 0.5 s and was killed');
    await new Promise((r) => setTimeout(r, 3_500));
    expect(existsSync(marker)).toBe(false);
  });

  it('a guest the platform launched (trust on first use) has its host key recorded on first contact', async () => {
    const { rows } = await pipe.pool.query<{ private_key: string }>("SELECT private_key FROM guests WHERE id = 'web1'");
    await pipe.pool.query(`INSERT INTO guests (tenant_id, id, address, port, "user", private_key, trust_on_first_use) VALUES ('t1', 'launched1', '127.0.0.1', $1, $2, $3, true)`, [sshd.port, sshd.user, rows[0]?.private_key]);
    const res = await cmq(['call', 'guest.exec', '--tenant', 't1', '--args', '{"guest":"launched1","command":"true"}', '--wait', '--timeout', '30']);
    expect(res.code).toBe(0);
    const after = await pipe.pool.query<{ host_key_fingerprint: string | null }>("SELECT host_key_fingerprint FROM guests WHERE id = 'launched1'");
    expect(after.rows[0]?.host_key_fingerprint).toBe(sshd.hostKey.fingerprint);
  });

  it('a changed host key: dead with the reason, a security line in the tenant log, and no command run', async () => {
    const old = sshd.hostKey.fingerprint;
    await sshd.restart({ newHostKey: true });
    const marker = join(work, 'marker');
    const res = await cmq(['call', 'guest.exec', '--tenant', 't1', '--args', JSON.stringify({ guest: 'web1', command: `touch ${marker}` }), '--wait', '--timeout', '30']);
    expect(res.code).toBe(1);
    const [id, state] = lines(res.stdout);
    expect(state).toBe(`${id} dead`);
    expect(res.stdout).toContain(`is ${sshd.hostKey.fingerprint}, not the pinned ${old}`);
    expect(existsSync(marker)).toBe(false);
    const tenantLog = readFileSync(join(pipe.logDir, 'tenants', 't1.log'), 'utf8');
    const security = lines(tenantLog).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.security === true);
    expect(security).toEqual([expect.objectContaining({ level: 'warn', tenant: 't1', guest: 'web1', expected: old, seen: sshd.hostKey.fingerprint })]);
  });

  it('no secret reaches a log file or any cmq output', () => {
    const privateKeyBody = sshd.clientKey.privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    const kmKey = readFileSync(join(pipe.dir, 'km.keys'), 'utf8').trim().split('=').slice(1).join('=');
    const texts = [...filesUnder(pipe.logDir).map((f) => readFileSync(f, 'utf8')), ...outputs];
    expect(texts.length).toBeGreaterThan(3);
    for (const text of texts) {
      expect(text).not.toContain(kmKey);
      for (const line of privateKeyBody) expect(text).not.toContain(line);
      expect(text).not.toContain('PRIVATE KEY');
    }
  });
});
