import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '@cmq/common';
import { Pipeline } from '../helpers/pipeline';
import { runCmq } from '../helpers/process';
import { freePort } from '../helpers/private-servers';
import { textsUnder } from '../helpers/files';

const ACCESS_KEY = 'AKIAIOSFODNN7EXAMPLEQWXYZ';
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzSECRETzz';
const ROTATED_ACCESS_KEY = 'AKIAROTATEDKEYEXAMPLEJKLM';
const ROTATED_SECRET_KEY = 'rotatedSecretKey/K7MDENG/zzROTATEDzz';
let pipe: Pipeline;
let keysFile: string;
let privateKey: string;
let localCreds: string;
let generatedPrivateKey = '';
let rotatedPrivateKey = '';
const outputs: string[] = [];

async function cmq(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const res = await runCmq(args[0] === 'keys' && args[1] === 'generate' ? args : [...args, '--config-dir', pipe.dir]);
  outputs.push(res.stdout, res.stderr);
  return res;
}

function setActiveKey(id: string): void {
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keysFile}\nkm.active_key_id=${id}\n`);
}

async function ciphertexts(): Promise<string[]> {
  const { rows } = await pipe.pool.query<{ c: string }>(
    'SELECT credentials AS c FROM accounts UNION ALL SELECT private_key FROM guests UNION ALL SELECT private_key FROM nodes',
  );
  return rows.map((r) => r.c);
}

beforeAll(async () => {
  pipe = await Pipeline.create({ config: { 'km-client.cfg': {} } });
  keysFile = join(pipe.dir, 'km.keys');
  expect((await cmq(['keys', 'generate', '--out', keysFile, '--id', 'k1'])).code).toBe(0);
  setActiveKey('k1');
  await pipe.addTenants('t1');
  writeFileSync(
    join(pipe.dir, 'ec2.json'),
    JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: SECRET_KEY }),
  );
  writeFileSync(join(pipe.dir, 'bad.json'), JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: 'short' }));
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(pipe.dir, 'guest_key')]);
  privateKey = readFileSync(join(pipe.dir, 'guest_key'), 'utf8');
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'local-account',
    '-f',
    join(pipe.dir, 'local_key'),
  ]);
  localCreds = JSON.stringify({
    ssh_private_key: readFileSync(join(pipe.dir, 'local_key'), 'utf8'),
    ssh_public_key: readFileSync(join(pipe.dir, 'local_key.pub'), 'utf8').trim(),
  });
  writeFileSync(join(pipe.dir, 'local.json'), localCreds);
  // The guest's public key with the local account's private key: not a pair.
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'a passphrase', '-f', join(pipe.dir, 'locked_key')]);
  writeFileSync(
    join(pipe.dir, 'local-locked.json'),
    JSON.stringify({
      ssh_private_key: readFileSync(join(pipe.dir, 'locked_key'), 'utf8'),
      ssh_public_key: readFileSync(join(pipe.dir, 'locked_key.pub'), 'utf8').trim(),
    }),
  );
  writeFileSync(
    join(pipe.dir, 'local-mismatch.json'),
    JSON.stringify({
      ssh_private_key: readFileSync(join(pipe.dir, 'local_key'), 'utf8'),
      ssh_public_key: readFileSync(join(pipe.dir, 'guest_key.pub'), 'utf8').trim(),
    }),
  );
});

afterAll(async () => {
  await pipe.destroy();
});

describe('accounts with encrypted credentials', () => {
  it('add validates and encrypts; list and show never print a secret (show masks the access key id)', async () => {
    const ec2 = await cmq([
      'accounts',
      'add',
      '--tenant',
      't1',
      '--provider',
      'ec2',
      '--region',
      'eu-west-1',
      '--endpoint',
      'http://127.0.0.1:9',
      '--credentials-file',
      join(pipe.dir, 'ec2.json'),
      '--rate',
      '5',
      '--burst',
      '10',
    ]);
    expect(ec2).toMatchObject({ code: 0, stdout: 'added account 1 (ec2 eu-west-1) of tenant t1\n' });
    expect(
      (
        await cmq([
          'accounts',
          'add',
          '--tenant',
          't1',
          '--provider',
          'local',
          '--region',
          'lo',
          '--credentials-file',
          join(pipe.dir, 'local.json'),
        ])
      ).code,
    ).toBe(0);
    const bad = await cmq([
      'accounts',
      'add',
      '--tenant',
      't1',
      '--provider',
      'ec2',
      '--region',
      'eu-west-1',
      '--credentials-file',
      join(pipe.dir, 'bad.json'),
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('secret_access_key:');
    const unknownTenant = await cmq([
      'accounts',
      'add',
      '--tenant',
      'nobody',
      '--provider',
      'local',
      '--region',
      'lo',
      '--credentials-file',
      join(pipe.dir, 'local.json'),
    ]);
    expect(unknownTenant.code).toBe(2);
    expect(unknownTenant.stderr).toContain('unknown tenant "nobody"');
    // Without --provider: provisioning.cfg cloud.default_provider (local, which needs no credentials file; ec2 does).
    const byDefault = await cmq([
      'accounts',
      'add',
      '--tenant',
      'nobody',
      '--region',
      'lo',
      '--credentials-file',
      join(pipe.dir, 'local.json'),
    ]);
    expect(byDefault.code).toBe(2);
    expect(byDefault.stderr).toContain('unknown tenant "nobody"');
    const ec2ByDefault = await runCmq(
      ['accounts', 'add', '--tenant', 't1', '--region', 'eu-west-1', '--config-dir', pipe.dir],
      { CMQ_CLOUD_DEFAULT_PROVIDER: 'ec2' },
    );
    expect(ec2ByDefault.code).toBe(2);
    expect(ec2ByDefault.stderr).toContain('--credentials-file is required for provider ec2');
    const list = await cmq(['accounts', 'list']);
    expect(list.stdout).toMatch(/^1\s+t1\s+ec2\s+eu-west-1\s+http:\/\/127\.0\.0\.1:9\s+5\/s burst 10/m);
    const show = await cmq(['accounts', 'show', '1']);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain('access_key_id=****WXYZ secret_access_key=****');
    const json = JSON.parse((await cmq(['accounts', 'show', '1', '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({
      id: '1',
      provider: 'ec2',
      key_id: 'k1',
      credentials_masked: { access_key_id: '****WXYZ', secret_access_key: '[redacted]' },
    });
    const stored = await ciphertexts();
    expect(stored.every((c) => c.startsWith('v1:k1:'))).toBe(true);
  });

  it('local accounts hold an SSH key pair: checked as a pair, generated when no file is given, never shown', async () => {
    const mismatch = await cmq([
      'accounts',
      'add',
      '--tenant',
      't1',
      '--provider',
      'local',
      '--region',
      'lo',
      '--credentials-file',
      join(pipe.dir, 'local-mismatch.json'),
    ]);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toContain('ssh_public_key: is not the public half of ssh_private_key');
    const locked = await cmq([
      'accounts',
      'add',
      '--tenant',
      't1',
      '--provider',
      'local',
      '--region',
      'lo',
      '--credentials-file',
      join(pipe.dir, 'local-locked.json'),
    ]);
    expect(locked.stderr).toContain('ssh_private_key: encrypted with a passphrase');
    expect(
      (await cmq(['accounts', 'add', '--tenant', 't1', '--provider', 'ec2', '--region', 'eu-west-1'])).stderr,
    ).toContain('--credentials-file is required for provider ec2');
    const generated = await cmq(['accounts', 'add', '--tenant', 't1', '--provider', 'local', '--region', 'lo']);
    expect(generated).toMatchObject({ code: 0, stdout: 'added account 3 (local lo) of tenant t1\n' });
    const keyring = Keyring.fromText(readFileSync(keysFile, 'utf8'), 'k1');
    const { rows } = await pipe.pool.query<{ credentials: string }>('SELECT credentials FROM accounts WHERE id = 3');
    const creds = JSON.parse(keyring.decrypt(rows[0]?.credentials ?? '').toString('utf8')) as {
      ssh_private_key: string;
      ssh_public_key: string;
    };
    generatedPrivateKey = creds.ssh_private_key;
    expect(creds.ssh_public_key).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+={0,3} cmq-account-t1$/);
    expect(creds.ssh_private_key).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    // cmq runs with PATH only (TMPDIR unset): its temporary directory is under /tmp.
    expect(
      [...new Set([tmpdir(), '/tmp'])].flatMap((d) => readdirSync(d)).filter((f) => f.startsWith('cmq-account-key-')),
    ).toEqual([]);
    for (const id of ['2', '3']) {
      const show = await cmq(['accounts', 'show', id]);
      expect(show.stdout).toContain('credentials  ssh_private_key=**** ssh_public_key=****');
      expect(JSON.parse((await cmq(['accounts', 'show', id, '--json'])).stdout)).toMatchObject({
        provider: 'local',
        credentials_masked: { ssh_private_key: '[redacted]', ssh_public_key: '****' },
      });
    }
    expect(outputs.join('')).not.toContain(creds.ssh_public_key.split(' ')[1]);
  });

  it('keys rotate re-encrypts every secret (accounts, guests, nodes) under the new active key; all still decrypt', async () => {
    const guest = await cmq([
      'guests',
      'add',
      '--tenant',
      't1',
      '--address',
      '127.0.0.1',
      '--user',
      'u',
      '--key-file',
      join(pipe.dir, 'guest_key'),
      '--name',
      'g1',
    ]);
    expect(guest.code).toBe(0);
    const node = await cmq([
      'nodes',
      'add',
      'n1',
      '--address',
      '127.0.0.1',
      '--user',
      'u',
      '--key-file',
      join(pipe.dir, 'guest_key'),
      '--start-cmd',
      'true',
      '--stop-cmd',
      'true',
      '--status-cmd',
      'true',
    ]);
    expect(node).toMatchObject({ code: 0 });
    expect((await cmq(['keys', 'generate', '--out', keysFile, '--id', 'k2'])).code).toBe(0);
    setActiveKey('k2');
    const rotated = await cmq(['keys', 'rotate']);
    expect(rotated).toMatchObject({
      code: 0,
      stdout: 're-encrypted 5 secrets under key k2 (accounts 3 of 3, guests 1 of 1, nodes 1 of 1, actions 0 of 0)\n',
    });
    const stored = await ciphertexts();
    expect(stored).toHaveLength(5);
    expect(stored.filter((c) => !c.startsWith('v1:k2:'))).toEqual([]);
    const onlyNew = Keyring.fromText(
      readFileSync(keysFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('k2='))
        .join('\n'),
      'k2',
    );
    const plain = stored.map((c) => onlyNew.decrypt(c).toString('utf8'));
    expect(plain).toEqual(
      expect.arrayContaining([
        JSON.stringify({ access_key_id: ACCESS_KEY, secret_access_key: SECRET_KEY }),
        localCreds,
        privateKey,
      ]),
    );
    expect((await cmq(['keys', 'rotate'])).stdout).toBe(
      're-encrypted 0 secrets under key k2 (accounts 0 of 3, guests 0 of 1, nodes 0 of 1, actions 0 of 0)\n',
    );
    expect((await cmq(['accounts', 'show', '1', '--json'])).stdout).toContain('"key_id":"k2"');
  });

  it('a rotation that cannot decrypt a secret changes nothing and says so without the secret', async () => {
    await pipe.pool.query(
      "INSERT INTO guests (tenant_id, id, address, \"user\", private_key) VALUES ('t1', 'g2', '127.0.0.2', 'u', 'v1:gone:AAAAAAAAAAAAAAAA:AAAAAAAAAAAAAAAAAAAAAA==:AAAA')",
    );
    const before = await ciphertexts();
    expect((await cmq(['keys', 'generate', '--out', keysFile, '--id', 'k3'])).code).toBe(0);
    setActiveKey('k3');
    const res = await cmq(['keys', 'rotate']);
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('nothing rotated: secret encrypted under key id "gone", which is not in km.keys_file');
    expect(await ciphertexts()).toEqual(before);
    await pipe.pool.query("DELETE FROM guests WHERE id = 'g2'");
  });

  it('rotate replaces the credentials in place (same id, resources kept), checked, under the active key, audited', async () => {
    writeFileSync(
      join(pipe.dir, 'ec2-rotated.json'),
      JSON.stringify({ access_key_id: ROTATED_ACCESS_KEY, secret_access_key: ROTATED_SECRET_KEY }),
    );
    await pipe.pool.query(
      `INSERT INTO resources (account_id, kind, resource_id, tenant_id, state, first_seen, last_seen)
       VALUES (1, 'server', 'i-kept', 't1', '{}', now(), now())`,
    );
    const stored = async (id: string): Promise<string> =>
      (await pipe.pool.query<{ c: string }>('SELECT credentials AS c FROM accounts WHERE id = $1', [id])).rows[0]?.c ??
      '';
    const before = await stored('1');
    const bad = await cmq(['accounts', 'rotate', '1', '--credentials-file', join(pipe.dir, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('secret_access_key:');
    const local = await cmq(['accounts', 'rotate', '1', '--credentials-file', join(pipe.dir, 'local.json')]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain('access_key_id: Invalid input');
    expect(local.stderr).toContain('unknown field(s) ssh_public_key');
    const noFile = await cmq(['accounts', 'rotate', '1']);
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('--credentials-file is required to rotate account 1 (provider ec2)');
    const unreadable = await cmq(['accounts', 'rotate', '1', '--credentials-file', join(pipe.dir, 'absent.json')]);
    expect(unreadable.code).toBe(1);
    expect(unreadable.stderr).toContain('cannot read --credentials-file');
    const none = await cmq(['accounts', 'rotate', '99', '--credentials-file', join(pipe.dir, 'ec2-rotated.json')]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no account 99 (cmq accounts list)');
    expect(await stored('1')).toBe(before);
    const ok = await cmq(['accounts', 'rotate', '1', '--credentials-file', join(pipe.dir, 'ec2-rotated.json')]);
    expect(ok).toMatchObject({
      code: 0,
      stdout: 'rotated the credentials of account 1 (ec2 of tenant t1) under key k3; its next action uses them\n',
    });
    const keyring = Keyring.fromText(readFileSync(keysFile, 'utf8'), 'k3');
    expect(keyring.decrypt(await stored('1')).toString('utf8')).toBe(
      JSON.stringify({ access_key_id: ROTATED_ACCESS_KEY, secret_access_key: ROTATED_SECRET_KEY }),
    );
    expect((await cmq(['accounts', 'show', '1'])).stdout).toContain('access_key_id=****JKLM');
    const { rows: kept } = await pipe.pool.query('SELECT 1 FROM resources WHERE account_id = 1');
    expect(kept).toHaveLength(1);
    // A local account without a file: a new key pair, as add makes one.
    const oldLocal = keyring.decrypt(await stored('3')).toString('utf8');
    expect((await cmq(['accounts', 'rotate', '3'])).code).toBe(0);
    const newLocal = JSON.parse(keyring.decrypt(await stored('3')).toString('utf8')) as { ssh_private_key: string };
    expect(JSON.stringify(newLocal)).not.toBe(oldLocal);
    rotatedPrivateKey = newLocal.ssh_private_key;
    const { rows } = await pipe.pool.query<{ actor: string; target: string; detail: Record<string, unknown> }>(
      "SELECT actor, target, detail FROM audit_log WHERE action = 'account.rotate' ORDER BY id",
    );
    expect(rows.map((r) => [r.target, r.detail])).toEqual([
      ['account 1', { provider: 'ec2', key_id: 'k3', generated: false }],
      ['account 3', { provider: 'local', key_id: 'k3', generated: true }],
    ]);
    expect(rows.every((r) => r.actor.startsWith('cli:'))).toBe(true);
  });

  it('remove deletes an account; show of a removed one fails', async () => {
    expect((await cmq(['accounts', 'remove', '2'])).stdout).toBe('removed account 2\n');
    const gone = await cmq(['accounts', 'show', '2']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('no account 2');
  });

  it('remove with Redis unreachable: the account is gone from PostgreSQL, a warning says how to finish the clean-up', async () => {
    const res = await runCmq(['accounts', 'remove', '1', '--config-dir', pipe.dir], {
      CMQ_REDIS_PORT: String(await freePort()),
      CMQ_REDIS_CONNECT_TIMEOUT: '500ms',
    });
    outputs.push(res.stdout, res.stderr);
    expect(res).toMatchObject({ code: 0, stdout: 'removed account 1\n' });
    expect(res.stderr).toContain('account 1 is removed, but its cached resources are still in Redis');
    expect(res.stderr).toContain("--scan --pattern 'cmq:resources:t1:1:*'");
    expect((await cmq(['accounts', 'show', '1'])).stderr).toContain('no account 1');
  });

  it('no secret reaches any cmq output, audit row or log file', async () => {
    const keyMaterial = readFileSync(keysFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split('=').slice(1).join('='));
    const localKey = (JSON.parse(localCreds) as { ssh_private_key: string }).ssh_private_key;
    const keyBody = [privateKey, localKey, generatedPrivateKey, rotatedPrivateKey].flatMap((k) =>
      k.split('\n').filter((l) => l !== '' && !l.startsWith('-----')),
    );
    expect(generatedPrivateKey).not.toBe('');
    expect(rotatedPrivateKey).not.toBe('');
    const secrets = [
      ACCESS_KEY,
      SECRET_KEY,
      ACCESS_KEY.slice(0, -4),
      ROTATED_ACCESS_KEY,
      ROTATED_SECRET_KEY,
      ...keyMaterial,
      ...keyBody,
    ];
    // Only cmq runs here, and it may have written no log file at all; the audit rows are searched too.
    const { rows: audit } = await pipe.pool.query<{ row: string }>(
      'SELECT row_to_json(a)::text AS row FROM audit_log a',
    );
    expect(audit.length).toBeGreaterThan(0);
    const texts = [...outputs, ...audit.map((r) => r.row), ...textsUnder(pipe.logDir, { absentOk: true })];
    for (const secret of secrets) expect(texts.filter((t) => t.includes(secret))).toEqual([]);
  });
});
