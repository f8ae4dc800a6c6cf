import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SshClient, type SshSettings } from '@cmq/common';
import { DriverError, LOCAL_NOT_FOUND, LocalDriver, type LocalDriverOptions, type Server } from '@cmq/drivers';
import { tempDir } from '../helpers/config-dir';
import { freePort } from '../helpers/private-servers';
import { ROOT } from '../helpers/process';
import { type KeyPair, SSH_TEST_USER, makeKeyPair, pidsWith } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';
import { rejection } from '../helpers/rejection';

const run = promisify(execFile);
const SETTINGS: SshSettings = {
  SOURCE_CIDR: ['127.0.0.0/8'],
  ssh: {
    strict_host_keys: true,
    connect_timeout: 5_000,
    keepalive_interval: 5_000,
    command_timeout: 10_000,
    output_cap: 65_536,
    per_host_limit: 2,
  },
};
const ACCOUNT = '7';

let stateDir: string;
/** Every state dir this file launched servers in (afterAll terminates all their servers). */
const stateDirs = new Set<string>();
let key: KeyPair;
let options: LocalDriverOptions;
let driver: LocalDriver;

function failure(p: Promise<unknown>): Promise<DriverError> {
  return rejection(p, DriverError);
}

/** Runs a command on the server over SSH, with its recorded host key fingerprint pinned. */
async function sshExec(
  server: Server,
  command: string,
  fingerprint = server.hostKeyFingerprint,
  privateKey = key.privateKey,
): ReturnType<SshClient['exec']> {
  const client = new SshClient(SETTINGS);
  try {
    return await client.exec(
      {
        host: server.addresses.public?.[0] ?? '',
        port: server.sshPort ?? 22,
        username: server.sshUser ?? '',
        privateKey: Buffer.from(privateKey),
        hostKey: { pinned: fingerprint, trustOnFirstUse: false, strict: true },
      },
      command,
    );
  } finally {
    client.close();
  }
}

/** `refused` when nothing listens on the server's address any more. */
function tcpOutcome(host: string, port: number): Promise<'accepted' | 'refused' | 'other'> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : 'other'));
  });
}

/** The built driver package, for child processes (they cannot load the TypeScript sources). */
function distIndex(): string {
  const dist = join(ROOT, 'packages', 'drivers', 'dist', 'index.js');
  if (!existsSync(dist)) throw new Error(`${dist} is missing: run npx tsc --build`);
  return dist;
}

/** The unprivileged test login (as tests/helpers/sshd.ts makes it). */
function ensureTestUser(): void {
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--password', '*', SSH_TEST_USER]);
  }
}

function launch(token: string, name = token): Promise<Server> {
  return driver.launchServer({ clientToken: token, name, image: 'debian-12', size: 'small' });
}

/**
 * Terminates every server of every account of `dir`, whoever launched it (a child process that
 * timed out after its sshd started included: its record is written before sshd starts).
 */
async function terminateAll(dir: string): Promise<void> {
  const accounts = existsSync(dir) ? readdirSync(dir).filter((a) => a !== 'addresses') : [];
  for (const account of accounts) {
    const d = new LocalDriver({ stateDir: dir, account, authorizedKey: key.publicKey, sshPort: options.sshPort });
    for (const s of await d.listServers().catch(() => []))
      if (s.state !== 'terminated') await d.terminateServer(s.id).catch(() => undefined);
  }
}

beforeAll(async () => {
  stateDir = tempDir('cmq-local-cloud-');
  stateDirs.add(stateDir);
  key = makeKeyPair(tempDir('cmq-local-key-'), 'account_key');
  // A port of our own: other test files may run local clouds (on 2222) at the same time. As root,
  // the servers admit root only because it is named (a root driver left at the default refuses).
  options = { stateDir, account: ACCOUNT, authorizedKey: key.publicKey, sshPort: await freePort(), loginUser: 'root' };
  driver = new LocalDriver(options);
});

afterAll(async () => {
  // Every sshd and log writer this file started, in every state dir, child processes' included.
  for (const dir of stateDirs) await terminateAll(dir);
});

describe('LocalDriver against the real sshd', () => {
  let first: Server;

  it('launches once per token: a repeated launch returns the same server', async () => {
    first = await launch('token-a', 'web-1');
    expect(first).toMatchObject({
      name: 'web-1',
      state: 'running',
      image: 'debian-12',
      size: 'small',
      sshPort: options.sshPort,
    });
    expect(first.id).toMatch(/^local-[0-9a-f]{12}$/);
    expect(first.hostKeyFingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    const address = first.addresses.public?.[0] ?? '';
    expect(address).toMatch(/^127\.0\.\d+\.\d+$/);
    expect(address).not.toBe('127.0.0.1');
    expect(await launch('token-a', 'web-1')).toEqual(first);
    expect((await driver.listServers()).map((s) => s.id)).toEqual([first.id]);
  });

  it('concurrent launches with one token make one server; other tokens get other addresses', async () => {
    const [a, b, c] = await Promise.all([launch('token-b'), launch('token-b'), launch('token-b')]);
    expect(b?.id).toBe(a?.id);
    expect(c?.id).toBe(a?.id);
    const servers = await driver.listServers();
    expect(servers).toHaveLength(2);
    expect(new Set(servers.map((s) => s.addresses.public?.[0])).size).toBe(2);
    expect(readFileSync(join(stateDir, 'addresses', a?.addresses.public?.[0] ?? ''), 'utf8').trim()).toBe(
      `${ACCOUNT}/${a?.id}`,
    );
  });

  it('answers SSH on its address with the recorded host key, admits the account key, HOME is its own home', async () => {
    const res = await sshExec(first, 'echo "$HOME"; ls "$HOME/log"');
    expect(res).toMatchObject({ code: 0, hostKey: { fingerprint: first.hostKeyFingerprint, firstUse: false } });
    const home = join(stateDir, ACCOUNT, 'servers', first.id, 'home');
    expect(res.stdout).toBe(`${home}\napp.log\n`);
    expect(first.logPaths).toEqual([join(home, 'log', 'app.log')]);
    const other = makeKeyPair(tempDir('cmq-local-other-'), 'other');
    const refused = await sshExec(first, 'true', first.hostKeyFingerprint, other.privateKey).catch((e: Error) => e);
    expect(refused).toMatchObject({ code: 'CMQ_ERR_SSH_AUTH' });
    const impostor = await sshExec(first, 'true', 'SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA').catch(
      (e: Error) => e,
    );
    expect(impostor).toBeInstanceOf(Error);
    expect((impostor as { code?: string }).code).toMatch(/HOSTKEY/);
  });

  it('its log file grows, line by line', async () => {
    const log = first.logPaths?.[0] ?? '';
    const before = statSync(log).size;
    await waitFor(() => statSync(log).size > before, 5_000, `${log} to grow`);
    expect(readFileSync(log, 'utf8')).toMatch(
      new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ ${first.id} heartbeat \\d+$`, 'm'),
    );
  });

  it('its log writer rotates app.log to app.log.1 every appLogRotateLines lines and goes on in a new file', async () => {
    for (const bad of [0, 1.5])
      expect(() => new LocalDriver({ ...options, appLogRotateLines: bad })).toThrow(
        `appLogRotateLines ${bad}: a whole number of lines, at least 1`,
      );
    const rotating = new LocalDriver({ ...options, appLogRotateLines: 3 });
    const server = await rotating.launchServer({ clientToken: 'token-rotate', name: 'rotate', image: 'i', size: 's' });
    try {
      const log = server.logPaths?.[0] ?? '';
      const numbers = (file: string): number[] =>
        (existsSync(file) ? readFileSync(file, 'utf8') : '')
          .split('\n')
          .filter(Boolean)
          .map((l) => Number(/ heartbeat (\d+)$/.exec(l)?.[1]));
      // Read app.log first: a rotation between the two reads then shows as a gap, and is read again.
      await waitFor(
        () => {
          const now = numbers(log);
          const old = numbers(`${log}.1`);
          const last = old[old.length - 1] ?? 0;
          return (
            old.length === 3 &&
            last % 3 === 0 &&
            old.join() === [last - 2, last - 1, last].join() &&
            now[0] === last + 1
          );
        },
        15_000,
        'three lines in app.log.1, the next ones in a new app.log',
      );
      expect(numbers(log).length).toBeLessThanOrEqual(3);
    } finally {
      await rotating.terminateServer(server.id);
    }
  });

  it('a dead sshd reports stopped; reboot ends its old sessions and brings it back with the same address and host key', async () => {
    const started = Date.now();
    const session = sshExec(first, 'echo up; sleep 30').catch((e: Error) => e);
    await waitFor(
      () => readFileSync(join(stateDir, ACCOUNT, 'servers', first.id, 'sshd.log'), 'utf8').includes('Starting session'),
      5_000,
      'the session',
    );
    const pid = Number(readFileSync(join(stateDir, ACCOUNT, 'servers', first.id, 'sshd.pid'), 'utf8'));
    process.kill(pid, 'SIGKILL');
    await waitFor(async () => (await driver.getServer(first.id))?.state === 'stopped', 5_000, 'state stopped');
    await driver.rebootServer(first.id);
    expect(await session).toBeInstanceOf(Error);
    expect(Date.now() - started).toBeLessThan(20_000);
    const after = await driver.getServer(first.id);
    expect(after).toMatchObject({
      state: 'running',
      hostKeyFingerprint: first.hostKeyFingerprint,
      addresses: first.addresses,
    });
    expect((await sshExec(first, 'true')).code).toBe(0);
    await driver.rebootServer(first.id);
    expect((await sshExec(first, 'true')).code).toBe(0);
    expect(readFileSync(first.logPaths?.[0] ?? '', 'utf8')).toContain(`${first.id} reboot`);
  });

  it('firewalls and volumes describe the local cloud', async () => {
    const ingress = (port: number | undefined): unknown => ({
      direction: 'ingress',
      protocol: 'tcp',
      fromPort: port,
      toPort: port,
      sources: ['127.0.0.0/8'],
    });
    expect(await driver.listFirewalls()).toEqual([
      expect.objectContaining({ rules: expect.arrayContaining([ingress(options.sshPort)]) as unknown }),
    ]);
    const volumes = await driver.listVolumes();
    expect(volumes).toHaveLength(2);
    expect(volumes).toContainEqual({ id: `vol-${first.id}`, size_gb: 1, state: 'in-use', attachedTo: first.id });
    // A server launched on another port (ssh_port changed since) keeps it: admitted there too, once.
    const otherPort = await freePort();
    const moved = await new LocalDriver({ ...options, sshPort: otherPort }).launchServer({
      clientToken: 'token-port',
      name: 'p',
      image: 'i',
      size: 's',
    });
    try {
      const rules = (await driver.listFirewalls())[0]?.rules ?? [];
      expect(rules.filter((r) => r.direction === 'ingress')).toEqual([
        ingress(Math.min(otherPort, options.sshPort ?? 0)),
        ingress(Math.max(otherPort, options.sshPort ?? 0)),
      ]);
    } finally {
      await driver.terminateServer(moved.id);
    }
  });

  it('terminate stops the sshd and the log writer; the server stays listed as terminated', async () => {
    const address = first.addresses.public?.[0] ?? '';
    const log = first.logPaths?.[0] ?? '';
    await driver.terminateServer(first.id);
    expect(await tcpOutcome(address, options.sshPort ?? 0)).toBe('refused');
    expect((await driver.getServer(first.id))?.state).toBe('terminated');
    expect((await driver.listServers()).find((s) => s.id === first.id)?.state).toBe('terminated');
    expect(existsSync(join(stateDir, 'addresses', address))).toBe(false);
    const size = statSync(log).size;
    // A fixed wait on purpose: the log writer is gone, so the log stays as it is for a while.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(statSync(log).size).toBe(size);
    await driver.terminateServer(first.id);
    expect((await launch('token-a')).state).toBe('terminated');
    expect(await failure(driver.rebootServer(first.id))).toMatchObject({
      kind: 'permanent',
      providerCode: 'IncorrectInstanceState',
    });
    expect((await driver.listVolumes()).map((v) => v.attachedTo)).not.toContain(first.id);
  });

  it('an unknown id: getServer undefined, terminate and reboot fail permanent with the not-found code', async () => {
    for (const id of ['local-0123456789ab', '../../etc', 'i-0123']) {
      expect(await driver.getServer(id)).toBeUndefined();
      const err = await failure(driver.terminateServer(id));
      expect(err).toMatchObject({
        kind: 'permanent',
        provider: 'local',
        operation: 'terminateServer',
        providerCode: LOCAL_NOT_FOUND,
      });
      expect(err.message).toContain(id);
      expect((await failure(driver.rebootServer(id))).providerCode).toBe(LOCAL_NOT_FOUND);
    }
  });

  it('completes a launch interrupted after its token file was written, with the id it names', async () => {
    const id = 'local-00000000abcd';
    const tokens = join(stateDir, ACCOUNT, 'tokens');
    mkdirSync(tokens, { recursive: true });
    writeFileSync(join(tokens, createHash('sha256').update('token-c').digest('hex')), `${id}\n`);
    const server = await launch('token-c');
    expect(server).toMatchObject({ id, state: 'running' });
    expect((await sshExec(server, 'true')).code).toBe(0);
    // Interrupted after sshd started, before the record said so: the running sshd is adopted, not doubled.
    const dir = join(stateDir, ACCOUNT, 'servers', id);
    const sshdPid = readFileSync(join(dir, 'sshd.pid'), 'utf8').trim();
    const record = JSON.parse(readFileSync(join(dir, 'server.json'), 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'server.json'), JSON.stringify({ ...record, state: 'pending', pids: {} }));
    expect((await driver.getServer(id))?.state).toBe('pending');
    expect(await launch('token-c')).toEqual(server);
    expect(readFileSync(join(dir, 'sshd.pid'), 'utf8').trim()).toBe(sshdPid);
    expect(readFileSync(join(dir, 'sshd.log'), 'utf8').match(/Server listening/g)).toHaveLength(1);
  });

  it('as root, refuses root as the login user unless it is named (launch and reboot), and a login user that is not a user name', async () => {
    const implicit = new LocalDriver({
      stateDir,
      account: 'implicit-root',
      authorizedKey: key.publicKey,
      sshPort: options.sshPort,
    });
    const err = await failure(implicit.launchServer({ clientToken: 'token-root', name: 'r', image: 'i', size: 's' }));
    expect(err).toMatchObject({ kind: 'permanent', providerCode: 'InvalidParameterValue' });
    expect(err.message).toContain('root shell');
    expect(err.message).toContain('cloud.local.login_user=root');
    expect(existsSync(join(stateDir, 'implicit-root', 'servers'))).toBe(false);
    // A server launched with root named is not rebooted by a driver that does not name it.
    const server = await launch('token-root');
    try {
      const sameAccount = new LocalDriver({
        stateDir,
        account: ACCOUNT,
        authorizedKey: key.publicKey,
        sshPort: options.sshPort,
      });
      expect((await failure(sameAccount.rebootServer(server.id))).message).toContain('cloud.local.login_user=root');
      expect((await driver.getServer(server.id))?.state).toBe('running');
    } finally {
      await driver.terminateServer(server.id);
    }
    for (const loginUser of ['root bob', 'a*', 'Root', 'x.y']) {
      expect(() => new LocalDriver({ ...options, loginUser })).toThrow(DriverError);
      expect(() => new LocalDriver({ ...options, loginUser })).toThrow(/POSIX user name/);
    }
  });

  it('a redelivered launch and a reboot check the user the server was launched with, not the current one', async () => {
    const server = await launch('token-rec');
    const state = join(stateDir, ACCOUNT, 'servers', server.id, 'server.json');
    const original = readFileSync(state, 'utf8');
    try {
      // As if launched (and interrupted) while login_user named a user without a login shell.
      writeFileSync(
        state,
        JSON.stringify({ ...(JSON.parse(original) as Record<string, unknown>), loginUser: 'nobody', state: 'pending' }),
      );
      const relaunch = await failure(launch('token-rec'));
      expect(relaunch).toMatchObject({ kind: 'permanent', providerCode: 'InvalidParameterValue' });
      expect(relaunch.message).toContain('loginUser "nobody"');
      expect((await failure(driver.rebootServer(server.id))).message).toContain('loginUser "nobody"');
      // Refused before anything stopped.
      expect((await sshExec(server, 'true')).code).toBe(0);
    } finally {
      writeFileSync(state, original);
      await driver.terminateServer(server.id);
    }
  });

  it('a launch fails permanent, naming the path, when sshd is missing', async () => {
    const broken = new LocalDriver({ ...options, sshdPath: '/nonexistent/sshd' });
    const err = await failure(broken.launchServer({ clientToken: 'token-x', name: 'x', image: 'i', size: 's' }));
    expect(err.kind).toBe('permanent');
    expect(err.message).toContain('/nonexistent/sshd');
    expect(err.message).toContain('install openssh-server');
    expect(() => new LocalDriver({ ...options, authorizedKey: key.privateKey })).toThrow(/authorizedKey/);
  });

  it('servers outlive the process that launched them', async () => {
    const dist = distIndex();
    const script = `const { LocalDriver } = require(${JSON.stringify(dist)});
      new LocalDriver(JSON.parse(process.argv[1])).launchServer({ clientToken: 'token-child', name: 'child', image: 'i', size: 's' })
        .then((s) => { process.stdout.write(JSON.stringify(s)); process.exit(0); }, (e) => { process.stderr.write(String(e)); process.exit(1); });`;
    const { stdout } = await run(process.execPath, ['-e', script, JSON.stringify(options)], { timeout: 30_000 });
    const server = JSON.parse(stdout) as Server;
    expect(server.state).toBe('running');
    // A fixed wait on purpose: the server must still answer a while after its launcher exited.
    await new Promise((r) => setTimeout(r, 500));
    expect((await sshExec(server, 'true')).code).toBe(0);
    expect((await driver.getServer(server.id))?.state).toBe('running');
  });

  it('as root, admits another login user, who owns the server home', async () => {
    ensureTestUser();
    const other = new LocalDriver({ ...options, account: 'other-user', loginUser: SSH_TEST_USER });
    const server = await other.launchServer({ clientToken: 'token-u', name: 'u', image: 'i', size: 's' });
    try {
      expect(server.sshUser).toBe(SSH_TEST_USER);
      const res = await sshExec(server, 'id -un; touch "$HOME/mine" && tail -1 "$HOME/log/app.log"');
      expect(res.stdout).toMatch(new RegExp(`^${SSH_TEST_USER}\\n.* heartbeat \\d+\\n$`));
      // The log writer runs with the user's rights, not root's.
      const uid = Number(execFileSync('id', ['-u', SSH_TEST_USER]).toString().trim());
      const logPid = Number(readFileSync(join(stateDir, 'other-user', 'servers', server.id, 'log.pid'), 'utf8'));
      expect(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${logPid}/status`, 'utf8'))?.[1])).toBe(uid);
      // Rebooted by a driver configured for another login user since, it keeps the user it was launched with.
      await new LocalDriver({ ...options, account: 'other-user' }).rebootServer(server.id);
      expect((await sshExec(server, 'id -un')).stdout).toBe(`${SSH_TEST_USER}\n`);
    } finally {
      await other.terminateServer(server.id);
    }
  });

  it('as root for another user, never writes or gives away through a link the user planted in the home', async () => {
    ensureTestUser();
    const other = new LocalDriver({ ...options, account: 'other-user', loginUser: SSH_TEST_USER });
    const launchIt = (): Promise<Server> =>
      other.launchServer({ clientToken: 'token-link', name: 'link', image: 'i', size: 's' });
    const server = await launchIt();
    const targets = tempDir('cmq-local-root-');
    chmodSync(targets, 0o755);
    const secret = join(targets, 'secret');
    writeFileSync(secret, 'root only\n', { mode: 0o644 });
    const unchanged = (): void => {
      expect(readFileSync(secret, 'utf8')).toBe('root only\n');
      expect(statSync(secret).uid).toBe(0);
      expect(statSync(targets).uid).toBe(0);
      expect(readdirSync(targets)).toEqual(['secret']);
    };
    try {
      // app.log replaced by a link to a root-owned file, by the user, over SSH.
      expect((await sshExec(server, `ln -sf ${secret} "$HOME/log/app.log" && ls -l "$HOME/log/app.log"`)).code).toBe(0);
      const refused = await failure(other.rebootServer(server.id));
      expect(refused).toMatchObject({ kind: 'permanent', provider: 'local' });
      expect(refused.message).toContain(`${server.logPaths?.[0]} is a symbolic link`);
      // Refused before anything stopped: the user can still log in and repair it.
      expect((await other.getServer(server.id))?.state).toBe('running');
      expect((await failure(launchIt())).message).toContain('is a symbolic link');
      // A fixed wait on purpose: nothing may write through the link for a while after the refusal.
      await new Promise((r) => setTimeout(r, 1_200));
      unchanged();
      // log/ itself replaced by a link to a root-owned directory.
      expect((await sshExec(server, `rm -rf "$HOME/log" && ln -s ${targets} "$HOME/log"`)).code).toBe(0);
      expect((await failure(other.rebootServer(server.id))).message).toContain('is a symbolic link or not a directory');
      expect((await failure(launchIt())).message).toContain('is a symbolic link or not a directory');
      unchanged();
      // Repaired by the user, the server reboots again, its log recreated as the user's.
      expect((await sshExec(server, 'rm "$HOME/log" && mkdir "$HOME/log"')).code).toBe(0);
      await other.rebootServer(server.id);
      const log = server.logPaths?.[0] ?? '';
      expect(lstatSync(log).isFile()).toBe(true);
      expect(statSync(log).uid).toBe(Number(execFileSync('id', ['-u', SSH_TEST_USER]).toString().trim()));
      expect(readFileSync(log, 'utf8')).toContain(`${server.id} reboot`);
      unchanged();
    } finally {
      await other.terminateServer(server.id);
    }
  });

  it('as root for another user, refuses a state dir that user cannot traverse, naming the directory, before starting anything', async () => {
    ensureTestUser();
    const locked = join(tempDir('cmq-local-locked-'), 'locked');
    mkdirSync(locked, { mode: 0o700 });
    chmodSync(locked, 0o700);
    const dir = join(locked, 'state');
    stateDirs.add(dir);
    const other = new LocalDriver({ ...options, stateDir: dir, account: 'other-user', loginUser: SSH_TEST_USER });
    const err = await failure(other.launchServer({ clientToken: 'token-locked', name: 'l', image: 'i', size: 's' }));
    expect(err).toMatchObject({ kind: 'permanent', providerCode: 'HomeUnreachable' });
    expect(err.message).toContain(`may not traverse ${locked};`);
    expect(err.message).toContain(`chmod o+x ${locked}`);
    expect(pidsWith(dir)).toEqual([]);
    // Made traversable (0711, as the docs say), the same launch completes.
    chmodSync(locked, 0o711);
    const server = await other.launchServer({ clientToken: 'token-locked', name: 'l', image: 'i', size: 's' });
    try {
      expect((await sshExec(server, 'id -un; test -w "$HOME/log/app.log"')).stdout).toBe(`${SSH_TEST_USER}\n`);
    } finally {
      await other.terminateServer(server.id);
    }
  });

  it('as root for another user, forgetting a server never removes through a link the user planted in its home', async () => {
    ensureTestUser();
    const other = new LocalDriver({ ...options, account: 'other-user', loginUser: SSH_TEST_USER, forgetAfterMs: 0 });
    const server = await other.launchServer({ clientToken: 'token-forget-link', name: 'fl', image: 'i', size: 's' });
    const targets = tempDir('cmq-local-root-');
    const secret = join(targets, 'secret');
    writeFileSync(secret, 'root only\n', { mode: 0o644 });
    const serverDir = join(stateDir, 'other-user', 'servers', server.id);
    let sleeper: number | undefined;
    try {
      // The user's links, and a process of the user still running in the home after terminate.
      const planted = await sshExec(
        server,
        `ln -s ${targets} "$HOME/evil" && mkdir -p "$HOME/a/b" && ln -s ${targets} "$HOME/a/b/evil2" && cd "$HOME/a" && { nohup sleep 60 </dev/null >/dev/null 2>&1 & echo $!; }`,
      );
      sleeper = Number(planted.stdout.trim());
      expect(sleeper).toBeGreaterThan(1);
    } finally {
      await other.terminateServer(server.id);
    }
    // Forgotten once the clock passes forget_after (0 here).
    await waitFor(
      async () => !(await other.listServers()).some((s) => s.id === server.id),
      5_000,
      'the terminated server forgotten',
    );
    expect(existsSync(serverDir)).toBe(false);
    expect(readFileSync(secret, 'utf8')).toBe('root only\n');
    expect(readdirSync(targets)).toEqual(['secret']);
    // Its process left in the home (it outlived terminate) was ended first.
    expect(existsSync(`/proc/${sleeper}`) ? readFileSync(`/proc/${sleeper}/stat`, 'utf8') : 'gone').toMatch(
      /^gone$|^\d+ \(sleep\) Z/,
    );
  });

  it('refuses a login user whose shell is nologin, naming the user and the shell', async () => {
    const shell = execFileSync('getent', ['passwd', 'nobody']).toString().trim().split(':')[6] ?? '';
    expect(shell).toMatch(/nologin$/);
    const nobody = new LocalDriver({ ...options, account: 'nobody-user', loginUser: 'nobody' });
    const err = await failure(nobody.launchServer({ clientToken: 'token-nobody', name: 'n', image: 'i', size: 's' }));
    expect(err).toMatchObject({ kind: 'permanent', providerCode: 'InvalidParameterValue' });
    expect(err.message).toContain('loginUser "nobody"');
    expect(err.message).toContain(shell);
    expect(existsSync(join(stateDir, 'nobody-user', 'servers'))).toBe(false);
  });

  it.each([
    ['exits at once', '#!/bin/sh\nexit 1\n', 10_000, /sshd exited/],
    ['never answers', '#!/bin/sh\nwhile :; do sleep 0.2; done\n', 700, /did not answer .* within 700 ms/],
  ])(
    'a launch whose sshd %s fails and leaves no process of the server running',
    async (_, script, startTimeoutMs, reason) => {
      const dir = tempDir('cmq-local-failing-');
      stateDirs.add(join(dir, 'state'));
      const sshdPath = join(dir, 'fake-sshd');
      writeFileSync(sshdPath, script, { mode: 0o755 });
      const failing = new LocalDriver({ ...options, stateDir: join(dir, 'state'), sshdPath, startTimeoutMs });
      const err = await failure(failing.launchServer({ clientToken: 'token-f', name: 'f', image: 'i', size: 's' }));
      expect(err.kind).toBe('transient');
      expect(err.message).toMatch(reason);
      const servers = join(dir, 'state', ACCOUNT, 'servers');
      const [id] = readdirSync(servers);
      expect(id).toMatch(/^local-/);
      const serverDir = join(servers, id ?? '');
      // No sshd (its command line names the server's sshd_config), no log writer (its app.log).
      await waitFor(() => pidsWith(serverDir).length === 0, 3_000, `no process of ${serverDir}`);
      // A fixed wait on purpose: none may come back a while later either.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(pidsWith(serverDir)).toEqual([]);
      const log = join(serverDir, 'home', 'log', 'app.log');
      expect(readFileSync(log, 'utf8')).not.toContain('heartbeat');
    },
  );

  it('a lock left by a previous boot, or by a recycled pid, is taken over at once', async () => {
    const server = await launch('token-lock');
    const lock = join(stateDir, ACCOUNT, 'locks', server.id);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    // Our own pid is alive: by pid alone, both locks would look held (30 s of waiting, then a failure).
    const stale = [
      `${process.pid} ${startTime} 00000000-0000-4000-8000-000000000000 0123456789abcdef\n`,
      `${process.pid} 1 ${bootId} 0123456789abcdef\n`,
    ];
    for (const content of stale) {
      writeFileSync(lock, content);
      const started = Date.now();
      await driver.rebootServer(server.id);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(existsSync(lock)).toBe(false);
    }
    writeFileSync(lock, stale[0] ?? '');
    await driver.terminateServer(server.id);
    expect(existsSync(lock)).toBe(false);
    expect(readdirSync(join(stateDir, ACCOUNT, 'locks'))).toEqual([]);
  });

  it('a lock whose holder could not read its own start time is held while its pid lives', async () => {
    const server = await launch('token-lock-nostart');
    const lock = join(stateDir, ACCOUNT, 'locks', server.id);
    const bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    writeFileSync(lock, `${process.pid} - ${bootId} 0123456789abcdef\n`);
    let settled = false;
    const reboot = driver.rebootServer(server.id).finally(() => {
      settled = true;
    });
    // A fixed wait on purpose: the reboot must still be waiting for the lock a while later.
    await new Promise((r) => setTimeout(r, 700));
    expect(settled).toBe(false);
    expect(readFileSync(lock, 'utf8')).toContain(' - ');
    rmSync(lock);
    await reboot;
    expect(existsSync(lock)).toBe(false);
    await driver.terminateServer(server.id);
  });

  it('an address kept by a terminate that crashed before releasing it is released by the next terminate, or by forget', async () => {
    const server = await launch('token-e');
    const address = server.addresses.public?.[0] ?? '';
    const addressFile = join(stateDir, 'addresses', address);
    await driver.terminateServer(server.id);
    expect(existsSync(addressFile)).toBe(false);
    // As if the first terminate had crashed after recording `terminated`.
    writeFileSync(addressFile, `${ACCOUNT}/${server.id}\n`);
    await driver.terminateServer(server.id);
    expect(existsSync(addressFile)).toBe(false);
    // An address handed to another server meanwhile is not taken from it.
    writeFileSync(addressFile, `${ACCOUNT}/local-ffffffffffff\n`);
    await driver.terminateServer(server.id);
    expect(readFileSync(addressFile, 'utf8')).toBe(`${ACCOUNT}/local-ffffffffffff\n`);
    writeFileSync(addressFile, `${ACCOUNT}/${server.id}\n`);
    const quick = new LocalDriver({ ...options, forgetAfterMs: 0 });
    await waitFor(
      async () => !(await quick.listServers()).some((s) => s.id === server.id),
      5_000,
      'the terminated server forgotten',
    );
    expect(existsSync(join(stateDir, ACCOUNT, 'servers', server.id))).toBe(false);
    expect(existsSync(addressFile)).toBe(false);
  });

  it('run as a non-root user, serves that user (OpenSSH unprivileged), and outlives the process', async () => {
    ensureTestUser();
    const dir = tempDir('cmq-local-nonroot-');
    execFileSync('chown', [SSH_TEST_USER, dir]);
    stateDirs.add(join(dir, 'state'));
    const mine = { stateDir: join(dir, 'state'), account: '1', authorizedKey: key.publicKey, sshPort: options.sshPort };
    const script = `const { LocalDriver } = require(${JSON.stringify(distIndex())});
      const d = new LocalDriver(JSON.parse(process.argv[1]));
      const call = process.argv[2] === 'launch' ? d.launchServer({ clientToken: 'token-n', name: 'n', image: 'i', size: 's' }) : d.terminateServer(process.argv[3]);
      call.then((s) => { process.stdout.write(JSON.stringify(s ?? null)); process.exit(0); }, (e) => { process.stderr.write(String(e)); process.exit(1); });`;
    const as = (args: string[]): Promise<{ stdout: string }> =>
      run('runuser', ['-u', SSH_TEST_USER, '--', process.execPath, '-e', script, JSON.stringify(mine), ...args], {
        timeout: 30_000,
        cwd: dir,
      });
    const server = JSON.parse((await as(['launch'])).stdout) as Server;
    try {
      expect(server).toMatchObject({ state: 'running', sshUser: SSH_TEST_USER });
      expect((await sshExec(server, 'id -un')).stdout).toBe(`${SSH_TEST_USER}\n`);
    } finally {
      await as(['terminate', server.id]);
    }
    expect(await tcpOutcome(server.addresses.public?.[0] ?? '', options.sshPort ?? 0)).toBe('refused');
  });

  it('forgets a long-terminated server (its token too)', async () => {
    const quick = new LocalDriver({ ...options, forgetAfterMs: 0 });
    const server = await launch('token-d');
    await quick.terminateServer(server.id);
    await waitFor(
      async () => !(await quick.listServers()).some((s) => s.id === server.id),
      5_000,
      'the terminated server forgotten',
    );
    expect(existsSync(join(stateDir, ACCOUNT, 'servers', server.id))).toBe(false);
    expect(await driver.getServer(server.id)).toBeUndefined();
  });
});
