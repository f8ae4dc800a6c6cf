import { type Server, createServer } from 'node:net';
import { symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, writeConfig } from '../helpers/config-dir';
import { execFileP, runCmq, spawnBin } from '../helpers/process';
import { TestPki } from '../helpers/test-pki';

// Invariant 4 for the files that settings name: a keys file, TLS CA, certificate or key (of the
// broker, PostgreSQL or Redis) that is missing, unreadable, malformed, mismatched or expired
// stops every process at start (exit 78) with the file and the key, before it connects;
// `cmq config check` refuses it the same way.

const BINS = ['publisher', 'subscriber', 'pinger', 'cmq'] as const;
const KEY_LINE = `k1=${Buffer.alloc(32, 7).toString('base64')}`;

// Made when the file is read: the table of cases below names files in it.
const files = tempDir();
const file = (name: string): string => join(files, name);

/** An EC key and a self-signed certificate for it; the key encrypted when `pass` is given. */
async function keyPair(name: string, pass?: string): Promise<void> {
  await execFileP('openssl', [
    'genpkey',
    '-algorithm',
    'EC',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    ...(pass === undefined ? [] : ['-aes256', '-pass', `pass:${pass}`]),
    '-out',
    file(`${name}.key`),
  ]);
  await execFileP('openssl', [
    'req',
    '-x509',
    '-key',
    file(`${name}.key`),
    ...(pass === undefined ? [] : ['-passin', `pass:${pass}`]),
    '-subj',
    `/CN=${name}`,
    '-days',
    '2',
    '-out',
    file(`${name}.crt`),
  ]);
}

beforeAll(async () => {
  await keyPair('a');
  await keyPair('b');
  await keyPair('locked', 'open-sesame');
  writeFileSync(file('km.keys'), `${KEY_LINE}\n`, { mode: 0o600 });
  writeFileSync(file('bad.keys'), 'k1=not-base64!\n');
  const pki = await TestPki.create(['localhost'], files);
  await pki.expiredClient('old', 'worker-old');
});

/** A config dir whose own files log into it, plus `extra` (file -> key -> value). */
function configWith(extra: Record<string, Record<string, string>>): string {
  const dir = tempDir();
  const own = { 'log.dir': join(dir, 'log'), 'metrics.dir': join(dir, 'metrics') };
  return writeConfig(
    { 'publisher.properties': own, 'subscriber.properties': own, 'pinger.properties': own, ...extra },
    dir,
  );
}

/** Runs a service (or `cmq config check`) on `dir` to its exit. */
async function run(bin: (typeof BINS)[number], dir: string): Promise<{ code: number | null; stderr: string }> {
  if (bin === 'cmq') return runCmq(['config', 'check', '--config-dir', dir]);
  const proc = spawnBin(bin, ['--config-dir', dir]);
  return { code: await proc.exitCode(), stderr: proc.stderr };
}

const km = (keysFile: string, active = 'k1'): Record<string, Record<string, string>> => ({
  'km-client.cfg': { 'km.keys_file': keysFile, 'km.active_key_id': active },
});
const tls = (values: Record<string, string>): Record<string, Record<string, string>> => ({
  'mq.cfg': Object.fromEntries(Object.entries(values).map(([k, v]) => [`amqp.tls.${k}`, v])),
});

/** One problem per case: the config it needs, then the file, key and message expected. */
const CASES: Array<[string, () => Record<string, Record<string, string>>, string, string, string]> = [
  [
    'a missing keys file',
    () => km(file('none.keys')),
    'km-client.cfg',
    'km.keys_file',
    `${file('none.keys')}: does not exist`,
  ],
  [
    'an active key id not in the keys file',
    () => km(file('km.keys'), 'k9'),
    'km-client.cfg',
    'km.active_key_id',
    `"k9" is not in ${file('km.keys')} (ids there: k1)`,
  ],
  [
    'a malformed keys file',
    () => km(file('bad.keys')),
    'km-client.cfg',
    'km.keys_file',
    `${file('bad.keys')} line 1: not "id=base64`,
  ],
  [
    'a keys file that is a directory',
    () => km(files),
    'km-client.cfg',
    'km.keys_file',
    `${files}: is not a regular file`,
  ],
  [
    'a missing TLS CA',
    () => tls({ ca: file('none.crt') }),
    'mq.cfg',
    'amqp.tls.ca',
    `${file('none.crt')}: does not exist`,
  ],
  [
    'a TLS CA that holds no certificate',
    () => tls({ ca: file('a.key') }),
    'mq.cfg',
    'amqp.tls.ca',
    `${file('a.key')}: holds no PEM certificate`,
  ],
  [
    'a missing TLS client certificate',
    () => tls({ cert: file('none.crt'), key: file('a.key') }),
    'mq.cfg',
    'amqp.tls.cert',
    `${file('none.crt')}: does not exist`,
  ],
  [
    'a TLS key that is not a key',
    () => tls({ cert: file('a.crt'), key: file('a.crt') }),
    'mq.cfg',
    'amqp.tls.key',
    `${file('a.crt')}: is not a usable PEM private key`,
  ],
  [
    'a TLS key that does not match its certificate',
    () => tls({ cert: file('a.crt'), key: file('b.key') }),
    'mq.cfg',
    'amqp.tls.key',
    `${file('b.key')}: does not match the certificate in ${file('a.crt')} (amqp.tls.cert)`,
  ],
  [
    'an expired TLS client certificate',
    () => tls({ cert: file('old.crt'), key: file('old.key') }),
    'mq.cfg',
    'amqp.tls.cert',
    `${file('old.crt')}: expired on 2020-01-02T00:00:00.000Z`,
  ],
  [
    'a missing PostgreSQL client key',
    () => ({
      'worker.properties': {
        'db.ssl.mode': 'verify-full',
        'db.ssl.cert': file('a.crt'),
        'db.ssl.key': file('none.key'),
      },
    }),
    'worker.properties',
    'db.ssl.key',
    `${file('none.key')}: does not exist`,
  ],
  [
    'a Redis CA that holds no certificate',
    () => ({ 'persistence.properties': { 'redis.tls.enabled': 'true', 'redis.tls.ca': file('a.key') } }),
    'persistence.properties',
    'redis.tls.ca',
    `${file('a.key')}: holds no PEM certificate`,
  ],
  [
    'an encrypted TLS key with the wrong passphrase',
    () => tls({ cert: file('locked.crt'), key: file('locked.key'), passphrase: 'wrong-one' }),
    'mq.cfg',
    'amqp.tls.key',
    `${file('locked.key')}: is not a usable PEM private key`,
  ],
];

describe.each(CASES)('%s', (_name, config, cfgFile, key, message) => {
  it.each(BINS)('stops %s with exit 78, naming the file and the key', async (bin) => {
    const dir = configWith(config());
    const res = await run(bin, dir);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`${join(dir, cfgFile)}: ${key}: ${message}`);
    expect(res.stderr).toContain('invalid configuration (1 problem)');
    expect(res.stderr).not.toMatch(/open-sesame|wrong-one/);
  });
});

describe.each(BINS)('%s', (bin) => {
  it('refuses its own properties file as a dangling symbolic link, and reports every problem at once', async () => {
    const dir = configWith({ ...km(file('none.keys')), ...tls({ ca: file('none.crt') }) });
    const own = bin === 'cmq' ? 'pinger.properties' : `${bin}.properties`;
    const target = join(dir, 'gone', own);
    // The link replaces the file written by configWith, so the process would otherwise run on defaults.
    unlinkSync(join(dir, own));
    symlinkSync(target, join(dir, own));
    const res = await run(bin, dir);
    expect(res.code).toBe(78);
    expect(res.stderr).toContain('invalid configuration (3 problems)');
    expect(res.stderr).toContain(`${join(dir, own)}: (file): is a symbolic link to ${target}, which does not exist`);
    expect(res.stderr).toContain(`${join(dir, 'km-client.cfg')}: km.keys_file: ${file('none.keys')}: does not exist`);
    expect(res.stderr).toContain(`${join(dir, 'mq.cfg')}: amqp.tls.ca: ${file('none.crt')}: does not exist`);
  });
});

describe('files that are fine', () => {
  it('cmq config check accepts a keys file holding the active key, and a CA, certificate and matching (encrypted) key', async () => {
    const plain = configWith({
      ...km(file('km.keys')),
      ...tls({ ca: file('b.crt'), cert: file('a.crt'), key: file('a.key') }),
    });
    const ok = await runCmq(['config', 'check', '--config-dir', plain]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const locked = configWith(tls({ cert: file('locked.crt'), key: file('locked.key'), passphrase: 'open-sesame' }));
    const unlocked = await runCmq(['config', 'check', '--config-dir', locked]);
    expect(unlocked.stderr).toBe('');
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).not.toContain('open-sesame');
  });

  it('a named file checked at start is what env overrides name too (the problem names the variable)', async () => {
    const dir = configWith(km(file('km.keys')));
    const res = await runCmq(['config', 'check', '--config-dir', dir], { CMQ_KM_KEYS_FILE: file('none.keys') });
    expect(res.code).toBe(78);
    expect(res.stderr).toContain(`env CMQ_KM_KEYS_FILE: km.keys_file: ${file('none.keys')}: does not exist`);
  });
});

/** A TCP listener that counts connections: proves a process did not try to connect. */
async function listener(): Promise<{ server: Server; port: number; connections: () => number }> {
  let count = 0;
  const server = createServer((socket) => {
    count += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { server, port: address.port, connections: () => count };
}

it.each(['publisher', 'subscriber', 'pinger'] as const)(
  'cmq-%s with a missing keys file connects to nothing',
  async (bin) => {
    const broker = await listener();
    const db = await listener();
    const redis = await listener();
    try {
      const dir = configWith({
        ...km(file('none.keys')),
        'mq.cfg': { 'amqp.urls': `amqp://127.0.0.1:${broker.port}` },
        'worker.properties': { 'db.port': String(db.port) },
        'persistence.properties': { 'redis.port': String(redis.port) },
      });
      expect((await run(bin, dir)).code).toBe(78);
      expect([broker.connections(), db.connections(), redis.connections()]).toEqual([0, 0, 0]);
    } finally {
      for (const l of [broker, db, redis]) l.server.close();
    }
  },
);
