import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { CmqError, type HostKeyPolicy, SshClient, type SshError, type SshSettings, type SshTarget } from '@cmq/common';
import { Sshd, pidsWith } from '../helpers/sshd';
import { TcpProxy } from '../helpers/tcp-proxy';
import { waitFor } from '../helpers/wait';
import { rejection } from '../helpers/rejection';

let sshd: Sshd;
let proxy: TcpProxy;
let work: string;
const clients: SshClient[] = [];

const settings = (over: Partial<SshSettings['ssh']> = {}): SshSettings => ({
  SOURCE_CIDR: ['127.0.0.0/8'],
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

function client(over: Partial<SshSettings['ssh']> = {}, idleMs?: number): SshClient {
  const c = new SshClient(settings(over), { idleMs });
  clients.push(c);
  return c;
}

const pinned = (): HostKeyPolicy => ({ pinned: sshd.hostKey.fingerprint, trustOnFirstUse: false, strict: false });

/** Through the counting proxy unless `direct`. */
function target(hostKey: HostKeyPolicy = pinned(), username = sshd.user, direct = false): SshTarget {
  return {
    host: '127.0.0.1',
    port: direct ? sshd.port : proxy.port,
    username,
    privateKey: Buffer.from(sshd.clientKey.privateKey),
    hostKey,
  };
}

function failure(p: Promise<unknown>): Promise<SshError> {
  return rejection(p, CmqError) as Promise<SshError>;
}

beforeAll(async () => {
  sshd = await Sshd.start({ permitRoot: true });
  work = sshd.writableDir();
});
beforeEach(async () => {
  proxy = await TcpProxy.start(sshd.port);
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await proxy.close();
});
afterAll(async () => {
  await sshd.stop();
});

describe('SSH connection reuse', () => {
  it('sequential commands to one target share one TCP connection, kept idle after', async () => {
    const ssh = client();
    for (let i = 0; i < 6; i += 1) {
      const res = await ssh.exec(target(), `echo run ${i}`);
      expect(res).toMatchObject({ code: 0, stdout: `run ${i}\n`, timedOut: false });
    }
    expect(proxy.accepted).toBe(1);
    expect(ssh.idleConnections()).toBe(1);
    ssh.close();
    expect(ssh.idleConnections()).toBe(0);
    await waitFor(() => proxy.open === 0, 5_000, 'the pooled connection closed by close()');
  });

  it('commands beyond ssh.per_host_limit wait for a connection in use; no more connections are opened', async () => {
    const ssh = client({ per_host_limit: 2 });
    const dir = join(work, `running-${randomBytes(4).toString('hex')}`);
    // Each command holds a file of its own while it runs and reports how many it saw.
    const cmd = `mkdir -p ${dir}; t=$(mktemp -p ${dir}); n=$(ls ${dir} | wc -l); sleep 0.4; rm -f "$t"; echo $n`;
    const started = Date.now();
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => ssh.exec(target(), cmd)));
    const elapsed = Date.now() - started;
    expect(results.map((r) => r.code)).toEqual([0, 0, 0, 0, 0]);
    expect(Math.max(...results.map((r) => Number(r.stdout.trim())))).toBeLessThanOrEqual(2);
    // Three waves of 0.4 s: the later commands waited.
    expect(elapsed).toBeGreaterThanOrEqual(1_150);
    expect(proxy.accepted).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('never reuses a connection for another user or another host-key policy', async () => {
    // Idle connections of a host are capped at ssh.per_host_limit: room here for all three.
    const ssh = client({ per_host_limit: 3 });
    expect((await ssh.exec(target(), 'id -un')).stdout).toBe(`${sshd.user}\n`);
    expect((await ssh.exec(target(pinned(), 'root'), 'id -un')).stdout).toBe('root\n');
    expect(proxy.accepted).toBe(2);
    const tofu = await ssh.exec(target({ trustOnFirstUse: true, strict: false }), 'true');
    expect(tofu.hostKey).toEqual({ fingerprint: sshd.hostKey.fingerprint, firstUse: true });
    expect(proxy.accepted).toBe(3);
    await ssh.exec(target(), 'true');
    await ssh.exec(target(pinned(), 'root'), 'true');
    expect(proxy.accepted).toBe(3);
    expect(ssh.idleConnections()).toBe(3);
  });

  it('keeps at most ssh.per_host_limit idle connections per host: the least recently used goes', async () => {
    const ssh = client({ per_host_limit: 1 });
    await ssh.exec(target(), 'true');
    await ssh.exec(target(pinned(), 'root'), 'true');
    expect(ssh.idleConnections()).toBe(1);
    await waitFor(() => proxy.closed === 1, 5_000, 'the first idle connection closed');
    await ssh.exec(target(pinned(), 'root'), 'true');
    expect(proxy.accepted).toBe(2);
  });

  it('a pooled connection gone stale is replaced transparently: the command runs once, on a new connection', async () => {
    const ssh = client();
    await ssh.exec(target(), 'true');
    expect(ssh.idleConnections()).toBe(1);
    proxy.sever();
    const marker = join(work, `once-${randomBytes(4).toString('hex')}`);
    const res = await ssh.exec(target(), `echo x >> ${marker}; cat ${marker}`);
    expect(res).toMatchObject({ code: 0, stdout: 'x\n' });
    expect(proxy.accepted).toBe(2);
  });

  it('after an idle close, a new connection checks the host key again: a changed key is refused', async () => {
    const ssh = client({}, 300);
    await ssh.exec(target(), 'true');
    await waitFor(() => proxy.closed === 1, 5_000, 'the idle connection closed after 300 ms');
    expect(ssh.idleConnections()).toBe(0);
    const old = sshd.hostKey.fingerprint;
    await sshd.restart({ newHostKey: true });
    const marker = join(work, `mitm-${randomBytes(4).toString('hex')}`);
    const err = await failure(
      ssh.exec(target({ pinned: old, trustOnFirstUse: false, strict: false }), `touch ${marker}`),
    );
    expect(err).toMatchObject({ code: 'CMQ_ERR_SSH_HOSTKEY_MISMATCH', security: true, transient: false });
    expect(existsSync(marker)).toBe(false);
    expect(proxy.accepted).toBe(2);
  });
});

describe('a command past its timeout is killed, whoever logs in', () => {
  it.each(['root', 'unprivileged'])('%s: no process left behind, the rest of the command never runs', async (who) => {
    const user = who === 'root' ? 'root' : sshd.user;
    const ssh = client();
    const token = `300.${Date.now() % 100000}${Math.floor(Math.random() * 1000)}`;
    const marker = join(work, `late-${token}`);
    const started = Date.now();
    // A background child and a foreground one: both are in the command's process group.
    const res = await ssh.exec(target(pinned(), user, true), `sleep ${token} & sleep ${token}; touch ${marker}`, {
      timeoutMs: 500,
    });
    expect(res).toMatchObject({ timedOut: true, code: null });
    expect(Date.now() - started).toBeLessThan(5_000); // the timeout, not the command's 300 s
    await waitFor(() => pidsWith(token).length === 0, 5_000, `no process running "sleep ${token}"`);
    expect(existsSync(marker)).toBe(false);
  });

  it('an aborted command (action timeout, shutdown) is killed the same way', async () => {
    const ssh = client();
    const token = `301.${Date.now() % 100000}`;
    const stop = new AbortController();
    const running = failure(ssh.exec(target(pinned(), 'root', true), `sleep ${token}`, { signal: stop.signal }));
    await waitFor(() => pidsWith(token).length > 0, 5_000, 'the command started');
    stop.abort();
    expect((await running).code).toBe('CMQ_ERR_ABORTED');
    await waitFor(() => pidsWith(token).length === 0, 5_000, `no process running "sleep ${token}"`);
  });
});
