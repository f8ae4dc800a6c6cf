import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Keyring } from '@cmq/common';
import { Pipeline } from '../helpers/pipeline';
import { runCmq } from '../helpers/process';

const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLEQWXYZ';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
let pipe: Pipeline;
let keysFile: string;
let privateKey: string;
const outputs: string[] = [];

async function cmq(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const res = await runCmq(args[0] === 'keys' && args[1] === 'generate' ? args : [...args, '--config-dir', pipe.dir]);
  outputs.push(res.stdout, res.stderr);
  return res;
}

function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? filesUnder(join(dir, f)) : [join(dir, f)]));
}

function setActiveKey(id: string): void {
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=${id}\n`);
}

async function ciphertexts(): Promise<string[]> {
  const { rows } = await pipe.pool.query<{ c: string }>('SELECT credentials AS c FROM accounts UNION ALL SELECT private_key FROM guests');
  return rows.map((r) => r.c);
}

beforeAll(async () => {
  pipe = await Pipeline.create({ config: { 'km-client.cfg': {} } });
  keysFile = join(pipe.dir, 'km.keys');
  expect((await cmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  setActiveKey('k1');
  await pipe.addTenants('t1');
  writeFileSync(join(pipe.dir, 'ec2.json'), JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: SECRET_KEY }));
  writeFileSync(join(pipe.dir, 'local.json'), '{}');
  writeFileSync(join(pipe.dir, 'bad.json'), JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: 'short' }));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(pipe.dir, 'guest_key')]);
  privateKey = readFileSync(join(pipe.dir, 'guest_key'), 'utf8');
});

afterAll(async () => {
  await pipe.destroy();
});

describe('accounts with encrypted credentials', () => {
  it('add validates and encrypts; list and show never print a secret (show masks the access key id)', async () => {
    const ec2 = await cmq(['accounts', 'add', '--tenant', 't1', '--provider', 'ec2', '--region', 'eu-west-1', '--endpoint', 'http://127.0.0.1:9', '--credentials-file', join(pipe.dir, 'ec2.json'), '--rate', '5', '--burst', '10']);
    expect(ec2).toMatchObject({ code: 0, stdout: 'added account 1 (ec2 eu-west-1) of tenant t1\n' });
    expect((await cmq(['accounts', 'add', '--tenant', 't1', '--provider', 'local', '--region', 'lo', '--credentials-file', join(pipe.dir, 'local.json')])).code).toBe(0);
    const bad = await cmq(['accounts', 'add', '--tenant', 't1', '--provider', 'ec2', '--region', 'eu-west-1', '--credentials-file', join(pipe.dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('secret_access_key:');
    const unknownTenant = await cmq(['accounts', 'add', '--tenant', 'nobody', '--provider', 'local', '--region', 'lo', '--credentials-file', join(pipe.dir, 'local.json')]);
    expect(unknownTenant.code).toBe(2);
    expect(unknownTenant.stderr).toContain('unknown tenant "nobody"');
    const list = await cmq(['accounts', 'list']);
    expect(list.stdout).toMatch(/^1\s+t1\s+ec2\s+eu-west-1\s+http:\/\/127\.0\.0\.1:9\s+5\/s burst 10/m);
    const show = await cmq(['accounts', 'show', '1']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('access_key_id=****WXYZ secret_access_key=****');
    const json = JSON.parse((await cmq(['accounts', 'show', '1', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ id: '1', provider: 'ec2', key_id: 'k1', credentials_masked: { access_key_id: '****WXYZ', secret_access_key: '[redacted]' } });
    const stored = await ciphertexts();
    expect(stored.every((c) => c.startsWith('v1:k1:'))).toBe(true);
  });

  it('keys rotate re-encrypts every secret (accounts and guests) under the new active key; all still decrypt', async () => {
    const guest = await cmq(['guests', 'add', '--tenant', 't1', '--address', '127.0.0.1', '--user', 'u', '--key-file', join(pipe.dir, 'guest_key'), '--name', 'g1']);
    expect(guest.code).toBe(0);
    expect((await cmq(['keys', 'generate', '--out', keysFile, '--id', 'k2'])).code).toBe(0);
    setActiveKey('k2');
    const rotated = await cmq(['keys', 'rotate']);
    expect(rotated).toMatchObject({ code: 0, stdout: 're-encrypted 3 secrets under key k2 (accounts 2 of 2, guests 1 of 1)\n' });
    const stored = await ciphertexts();
    expect(stored).toHaveLength(3);
    expect(stored.filter((c) => !c.startsWith('v1:k2:'))).toEqual([]);
    const onlyNew = Keyring.fromText(readFileSync(keysFile, 'utf8').split('\n').filter((l) => l.startsWith('k2=')).join('\n'), 'k2');
    const plain = stored.map((c) => onlyNew.decrypt(c).toString('utf8'));
    expect(plain).toEqual(expect.arrayContaining([JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: SECRET_KEY }), '{}', privateKey]));
    expect((await cmq(['keys', 'rotate'])).stdout).toBe('re-encrypted 0 secrets under key k2 (accounts 0 of 2, guests 0 of 1)\n');
    expect((await cmq(['accounts', 'show', '1', '--json'])).stdout).toContain('"key_id":"k2"');
  });

  it('a rotation that cannot decrypt a secret changes nothing and says so without the secret', async () => {
    await pipe.pool.query("INSERT INTO guests (tenant_id, id, address, \"user\", private_key) VALUES ('t1', 'g2', '127.0.0.2', 'u', 'v1:gone:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA')");
    const before = await ciphertexts();
    expect((await cmq(['keys', 'generate', '--out', keysFile, '--id', 'k3'])).code).toBe(0);
    setActiveKey('k3');
    const res = await cmq(['keys', 'rotate']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('nothing rotated: secret encrypted under key id "gone", which is not in km.keys_file');
    expect(await ciphertexts()).toEqual(before);
    await pipe.pool.query("DELETE FROM guests WHERE id = 'g2'");
  });

  it('remove deletes an account; show of a removed one fails', async () => {
    expect((await cmq(['accounts', 'remove', '2'])).stdout).toBe('removed account 2\n');
    const gone = await cmq(['accounts', 'show', '2']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no account 2');
  });

  it('no secret reaches any cmq output or log file', () => {
    const keyMaterial = readFileSync(keysFile, 'utf8').trim().split('\n').map((l) => l.split('=').slice(1).join('='));
    const keyBody = privateKey.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
    const secrets = [ACCESS_KEY, SECRET_KEY, ACCESS_KEY.slice(0, -4), ...keyMaterial, ...keyBody];
    const texts = [...outputs, ...filesUnder(pipe.logDir).map((f) => readFileSync(f, 'utf8'))];
    for (const secret of secrets) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});
