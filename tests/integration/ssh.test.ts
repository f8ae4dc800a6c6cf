import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { CmqError, type HostKeyPolicy, SshClient, type SshError, type SshSettings, type SshTarget } from '@cmq/common';
import { freePort } from '../helpers/private-servers';
import { type KeyPair, Sshd, makeKeyPair } from '../helpers/sshd';
import { rejection } from '../helpers/rejection';

let sshd: Sshd;
let work: string;

const settings = (over: Partial<SshSettings['ssh']> = {}, cidr = ['127.0.0.0/8']): SshSettings => ({
  SOURCE_CIDR: cidr,
  ssh: {
    strict_host_keys: false,
    connect_timeout: 5_000,
    keepalive_interval: 5_000,
    command_timeout: 10_000,
    output_cap: 4096,
    per_host_limit: 2,
    ...over,
  },
});

function target(
  hostKey: HostKeyPolicy,
  key: KeyPair = sshd.clientKey,
  host = '127.0.0.1',
  port = sshd.port,
): SshTarget {
  return { host, port, username: sshd.user, privateKey: Buffer.from(key.privateKey), hostKey };
}

const clients: SshClient[] = [];
/** A client closed after the test (its idle connections would keep jest waiting). */
function client(s: SshSettings = settings()): SshClient {
  const c = new SshClient(s);
  clients.push(c);
  return c;
}

function failure(p: Promise<unknown>): Promise<SshError> {
  return rejection(p, CmqError) as Promise<SshError>;
}

beforeAll(async () => {
  sshd = await Sshd.start();
  work = sshd.writableDir();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});
afterAll(async () => {
  await sshd.stop();
});

describe('SshClient against a real sshd', () => {
  it('runs a command: exit code and output; a non-zero exit is returned, not thrown', async () => {
    const ssh = client(settings());
    const pinned = sshd.hostKey.fingerprint;
    const ok = await ssh.exec(
      target({ pinned, trustOnFirstUse: false, strict: true }),
      'echo "out $GREETING"; echo err >&2',
      { env: { GREETING: "it's me" } },
    );
    expect(ok).toMatchObject({
      code: 0,
      stdout: "out it's me\n",
      stderr: 'err\n',
      truncated: false,
      timedOut: false,
      hostKey: { fingerprint: pinned, firstUse: false },
    });
    const bad = await ssh.exec(target({ pinned, trustOnFirstUse: false, strict: true }), 'exit 3');
    expect(bad.code).toBe(3);
  });

  it('trusts on first use only when allowed, and returns the fingerprint to record', async () => {
    const tofu = await client(settings()).exec(target({ trustOnFirstUse: true, strict: false }), 'true');
    expect(tofu.hostKey).toEqual({ fingerprint: sshd.hostKey.fingerprint, firstUse: true });
    const operatorAdded = await failure(
      client(settings()).exec(target({ trustOnFirstUse: false, strict: false }), 'true'),
    );
    expect(operatorAdded.code).toBe('CMQ_ERR_SSH_HOSTKEY_UNKNOWN');
    const strict = await failure(
      client(settings({ strict_host_keys: true })).exec(target({ trustOnFirstUse: true, strict: true }), 'true'),
    );
    expect(strict.code).toBe('CMQ_ERR_SSH_HOSTKEY_UNKNOWN');
    expect(strict.message).toContain('ssh.strict_host_keys');
  });

  it('kills a command past its timeout: the rest of it never runs', async () => {
    const marker = join(work, 'timeout-marker');
    const started = Date.now();
    const res = await client(settings()).exec(
      target({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false }),
      `sleep 5; touch ${marker}`,
      { timeoutMs: 500 },
    );
    expect(res).toMatchObject({ timedOut: true, code: null });
    expect(Date.now() - started).toBeLessThan(4_500); // not the 5 s the command takes
    // A fixed wait on purpose: past the 5 s the command would have slept, the marker must still be missing.
    await new Promise((r) => setTimeout(r, started + 6_000 - Date.now()));
    expect(existsSync(marker)).toBe(false);
  });

  it('caps stdout and stderr at ssh.output_cap each and flags the result truncated', async () => {
    const res = await client(settings({ output_cap: 1024 })).exec(
      target({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false }),
      'head -c 100000 /dev/zero | tr "\\0" a; head -c 10 /dev/zero | tr "\\0" b >&2',
    );
    expect(res.code).toBe(0);
    expect(res.stdout).toBe('a'.repeat(1024));
    expect(res.stderr).toBe('b'.repeat(10));
    expect(res.truncated).toBe(true);
  });

  it('refuses a changed host key permanently, as a security event, and the command never runs', async () => {
    const old = sshd.hostKey.fingerprint;
    await sshd.restart({ newHostKey: true });
    const marker = join(work, 'mitm-marker');
    const err = await failure(
      client(settings()).exec(target({ pinned: old, trustOnFirstUse: true, strict: false }), `touch ${marker}`),
    );
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
      const err = await failure(
        client(settings({}, ['10.0.0.0/8'])).exec(
          target({ trustOnFirstUse: true, strict: false }, sshd.clientKey, '127.0.0.1', port),
          'true',
        ),
      );
      expect(err.code).toBe('CMQ_ERR_SSH_SOURCE_CIDR');
      expect(err.transient).toBe(false);
      expect(err.message).toContain('SOURCE_CIDR=10.0.0.0/8');
      const byName = await failure(
        client(settings({}, ['10.0.0.0/8'])).exec(
          target({ trustOnFirstUse: true, strict: false }, sshd.clientKey, 'localhost', port),
          'true',
        ),
      );
      expect(byName.code).toBe('CMQ_ERR_SSH_SOURCE_CIDR');
      // A fixed wait on purpose: no connection may arrive a while later either.
      await new Promise((r) => setTimeout(r, 200));
      expect(connections).toBe(0);
    } finally {
      listener.close();
    }
  });

  it('classifies a refused key as permanent and an unreachable port as transient', async () => {
    const stranger = makeKeyPair(work, 'stranger');
    const auth = await failure(
      client(settings()).exec(
        target({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false }, stranger),
        'true',
      ),
    );
    expect(auth.code).toBe('CMQ_ERR_SSH_AUTH');
    expect(auth.transient).toBe(false);
    expect(auth.message).not.toContain(stranger.privateKey.split('\n')[1]);
    const closed = await failure(
      client(settings()).exec(
        target({ trustOnFirstUse: true, strict: false }, sshd.clientKey, '127.0.0.1', await freePort()),
        'true',
      ),
    );
    expect(closed.code).toBe('CMQ_ERR_SSH_CONNECT');
    expect(closed.transient).toBe(true);
  });

  it('runs at most ssh.per_host_limit commands at once on one host', async () => {
    const ssh = client(settings({ per_host_limit: 2 }));
    const pin: HostKeyPolicy = { pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false };
    // Each command holds a file of its own while it runs (a shared counter file edited with
    // `sed -i` lost updates between two commands: the count drifted and the test failed at times).
    const dir = join(work, 'conc');
    const cmd = `mkdir -p ${dir}; t=$(mktemp -p ${dir}); n=$(ls ${dir} | wc -l); sleep 0.5; rm -f "$t"; echo $n`;
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => ssh.exec(target(pin), cmd)));
    const peaks = results.map((r) => Number(r.stdout.trim()));
    expect(Math.max(...peaks)).toBeLessThanOrEqual(2);
    expect(Math.min(...peaks)).toBeGreaterThanOrEqual(1);
  });

  it('passes output line by line as it arrives, each stream capped like the result, truncation said once', async () => {
    const seen: string[] = [];
    const output = {
      line: (stream: string, text: string) => seen.push(`${stream}: ${text}`),
      truncated: (stream: string) => seen.push(`${stream} truncated`),
    };
    const pin: HostKeyPolicy = { pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false };
    // The first line must arrive while the command still sleeps.
    let firstAt = 0;
    const started = Date.now();
    const watch = {
      ...output,
      line: (stream: string, text: string) => {
        if (firstAt === 0) firstAt = Date.now();
        output.line(stream, text);
      },
    };
    const res = await client(settings({ output_cap: 1024 })).exec(
      target(pin),
      'echo one; printf "two\\r\\nthree"; echo; echo oops >&2; sleep 1; yes 0123456789abcdef | head -c 3000; printf "tail"',
      { output: watch },
    );
    expect(firstAt - started).toBeLessThan(Date.now() - started - 800);
    expect(res.truncated).toBe(true);
    expect(res.stdout.length).toBe(1024);
    const lines16 = seen.filter((l) => l === 'stdout: 0123456789abcdef');
    // 1024 bytes: "one\n" (4) + "two\r\nthree\n" (11) = 15, then 1009 bytes = 59 whole lines of 17 and 6 bytes cut.
    expect(seen.slice(0, 3)).toEqual(['stdout: one', 'stdout: two', 'stdout: three']);
    expect(seen).toContain('stderr: oops');
    expect(lines16).toHaveLength(59);
    expect(seen.slice(-2)).toEqual(['stdout: 012345', 'stdout truncated']);
    expect(seen.filter((l) => l.endsWith('truncated'))).toHaveLength(1);
  });
});
