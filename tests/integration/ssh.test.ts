import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CmqError, type HostKeyPolicy, SshClient, type SshError, type SshSettings, type SshTarget } from '@cmq/common';
import { freePort } from '../helpers/private-servers';
import { type KeyPair, Sshd, makeKeyPair } from '../helpers/sshd';

let sshd: Sshd;
let work: string;

const settings = (over: Partial<SshSettings['ssh']> = {}, cidr = ['127.0.0.0/8']): SshSettings => ({
  SOURCE_CIDR: cidr,
  ssh: { strict_host_keys: false, connect_timeout: 5_000, keepalive_interval: 5_000, command_timeout: 10_000, output_cap: 4096, per_host_limit: 2, ...over },
});

function target(hostKey: HostKeyPolicy, key: KeyPair = sshd.clientKey, host = '127.0.0.1', port = sshd.port): SshTarget {
  return { host, port, username: sshd.user, privateKey: Buffer.from(key.privateKey), hostKey };
}

async function failure(p: Promise<unknown>): Promise<SshError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof CmqError) return err as SshError;
    throw err;
  }
  throw new Error('did not fail');
}

beforeAll(async () => {
  sshd = await Sshd.start();
  work = sshd.writableDir();
});
afterAll(async () => {
  await sshd.stop();
});

describe('SshClient against a real sshd', () => {
  it('runs a command: exit code and output; a non-zero exit is returned, not thrown', async () => {
    const ssh = new SshClient(settings());
    const pinned = sshd.hostKey.fingerprint;
    const ok = await ssh.exec(target({ pinned, trustOnFirstUse: false, strict: true }), 'echo "out $GREETING"; echo err >&2', { env: { GREETING: "it's me" } });
    expect(ok).toMatchObject({ code: 0, stdout: "out it's me\n", stderr: 'err\n', truncated: false, timedOut: false, hostKey: { fingerprint: pinned, firstUse: false } });
    const bad = await ssh.exec(target({ pinned, trustOnFirstUse: false, strict: true }), 'exit 3');
    expect(bad.code).toBe(3);
  });

  it('trusts on first use only when allowed, and returns the fingerprint to record', async () => {
    const tofu = await new SshClient(settings()).exec(target({ trustOnFirstUse: true, strict: false }), 'true');
    expect(tofu.hostKey).toEqual({ fingerprint: sshd.hostKey.fingerprint, firstUse: true });
    const operatorAdded = await failure(new SshClient(settings()).exec(target({ trustOnFirstUse: false, strict: false }), 'true'));
    expect(operatorAdded.code).toBe('CMQ_ERR_SSH_HOSTKEY_UNKNOWN');
    const strict = await failure(new SshClient(settings({ strict_host_keys: true })).exec(target({ trustOnFirstUse: true, strict: true }), 'true'));
    expect(strict.code).toBe('CMQ_ERR_SSH_HOSTKEY_UNKNOWN');
    expect(strict.message).toContain('ssh.strict_host_keys');
  });

  it('kills a command past its timeout: the rest of it never runs', async () => {
    const marker = join(work, 'timeout-marker');
    const started = Date.now();
    const res = await new SshClient(settings()).exec(target({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false }), `sleep 3; touch ${marker}`, { timeoutMs: 500 });
    expect(res).toMatchObject({ timedOut: true, code: null });
    expect(Date.now() - started).toBeLessThan(2_500);
    await new Promise((r) => setTimeout(r, 3_500));
    expect(existsSync(marker)).toBe(false);
  });

  it('caps stdout and stderr at ssh.output_cap each and flags the result truncated', async () => {
    const res = await new SshClient(settings({ output_cap: 1024 })).exec(target({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false }), 'head -c 100000 /dev/zero | tr "\\0" a; head -c 10 /dev/zero | tr "\\0" b >&2');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('a'.repeat(1024));
    expect(res.stderr).toBe('b'.repeat(10));
    expect(res.truncated).toBe(true);
  });

  it('refuses a changed host key permanently, as a security event, and the command never runs', async () => {
    const old = sshd.hostKey.fingerprint;
    await sshd.restart({ newHostKey: true });
    const marker = join(work, 'mitm-marker');
    const err = await failure(new SshClient(settings()).exec(target({ pinned: old, trustOnFirstUse: true, strict: false }), `touch ${marker}`));
    expect(err.code).toBe('CMQ_ERR_SSH_HOSTKEY_MISMATCH');
    expect(err.transient).toBe(false);
    expect(err.security).toBe(true);
    expect(err.hostKey).toEqual({ expected: old, seen: sshd.hostKey.fingerprint });
    expect(err.message).not.toContain(sshd.clientKey.privateKey.split('\n')[1]);
    expect(existsSync(marker)).toBe(false);
    // sshd saw no authentication attempt: the key was never offered.
    expect(sshd.output).not.toMatch(/Accepted publickey|Failed publickey|Postponed publickey/);
  });

  it('refuses a target outside SOURCE_CIDR, naming the setting, without opening a connection', async () => {
    const port = await freePort();
    let connections = 0;
    const listener = createServer((s) => {
      connections += 1;
      s.destroy();
    });
    await new Promise<void>((r) => listener.listen(port, '127.0.0.1', r));
    try {
      const err = await failure(new SshClient(settings({}, ['10.0.0.0/8'])).exec(target({ trustOnFirstUse: true, strict: false }, sshd.clientKey, '127.0.0.1', port), 'true'));
      expect(err.code).toBe('CMQ_ERR_SSH_SOURCE_CIDR');
      expect(err.transient).toBe(false);
      expect(err.message).toContain('SOURCE_CIDR=10.0.0.0/8');
      const byName = await failure(new SshClient(settings({}, ['10.0.0.0/8'])).exec(target({ trustOnFirstUse: true, strict: false }, sshd.clientKey, 'localhost', port), 'true'));
      expect(byName.code).toBe('CMQ_ERR_SSH_SOURCE_CIDR');
      await new Promise((r) => setTimeout(r, 200));
      expect(connections).toBe(0);
    } finally {
      listener.close();
    }
  });

  it('classifies a refused key as permanent and an unreachable port as transient', async () => {
    const stranger = makeKeyPair(work, 'stranger');
    const auth = await failure(new SshClient(settings()).exec(target({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false }, stranger), 'true'));
    expect(auth.code).toBe('CMQ_ERR_SSH_AUTH');
    expect(auth.transient).toBe(false);
    expect(auth.message).not.toContain(stranger.privateKey.split('\n')[1]);
    const closed = await failure(new SshClient(settings()).exec(target({ trustOnFirstUse: true, strict: false }, sshd.clientKey, '127.0.0.1', await freePort()), 'true'));
    expect(closed.code).toBe('CMQ_ERR_SSH_CONNECT');
    expect(closed.transient).toBe(true);
  });

  it('runs at most ssh.per_host_limit commands at once on one host', async () => {
    const ssh = new SshClient(settings({ per_host_limit: 2 }));
    const pin: HostKeyPolicy = { pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false };
    const cmd = `f=${join(work, 'conc')}; echo x >> $f; n=$(wc -l < $f); sleep 0.5; sed -i '$d' $f; echo $n`;
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => ssh.exec(target(pin), cmd)));
    const peaks = results.map((r) => Number(r.stdout.trim()));
    expect(Math.max(...peaks)).toBeLessThanOrEqual(2);
  });
});
