import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './config-dir';
import { freePort } from './private-servers';
import { waitFor } from './wait';

/** An ed25519 key pair made with ssh-keygen in `dir`; `fingerprint` as `ssh-keygen -l` prints it. */
export interface KeyPair {
  privatePath: string;
  privateKey: string;
  publicKey: string;
  fingerprint: string;
}

export function makeKeyPair(dir: string, name: string): KeyPair {
  const privatePath = join(dir, name);
  rmSync(privatePath, { force: true });
  rmSync(`${privatePath}.pub`, { force: true });
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', privatePath]);
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${privatePath}.pub`])
    .toString()
    .split(' ')[1] as string;
  return {
    privatePath,
    privateKey: readFileSync(privatePath, 'utf8'),
    publicKey: readFileSync(`${privatePath}.pub`, 'utf8'),
    fingerprint,
  };
}

/** The unprivileged login of the test sshd: sshd honours signal requests only for non-root sessions. */
export const SSH_TEST_USER = 'cmq-ssh-test';

function ensureUser(): void {
  try {
    execFileSync('id', ['-u', SSH_TEST_USER], { stdio: 'ignore' });
  } catch {
    // '*' rather than useradd's locked '!': without PAM, sshd refuses a locked account.
    execFileSync('useradd', ['--system', '--create-home', '--shell', '/bin/sh', '--password', '*', SSH_TEST_USER]);
  }
}

/** Pids of the live children of `pid`, from /proc (no pattern matching on names). */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name in parentheses: state, ppid, ...
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Pids of live processes whose command line contains `token` (a unique string a test put there). */
export function pidsWith(token: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(token)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

export interface SshdOptions {
  /** `extraConfig`: more sshd_config lines (e.g. `SetEnv PATH=...` to serve fake commands). */
  extraConfig?: readonly string[];
  /** Let root log in with `clientKey` too (PermitRootLogin prohibit-password). */
  permitRoot?: boolean;
}

/**
 * A real OpenSSH server on 127.0.0.1 for one test file: its own host key, `SSH_TEST_USER` (and
 * root with `permitRoot`) logs in with `clientKey` only (sshd runs as root: the tests do).
 * `restart({ newHostKey: true })` plays a rebuilt (or impersonated) host: the connections of the
 * old server are cut too, as a rebuilt host's would be.
 */
export class Sshd {
  private child: ChildProcess | undefined;
  hostKey!: KeyPair;
  readonly clientKey: KeyPair;
  readonly user = SSH_TEST_USER;
  output = '';

  private constructor(
    readonly dir: string,
    /** Changes only if the first port picked was taken before sshd bound it (see start). */
    public port: number,
    private readonly extraConfig: readonly string[] = [],
    private readonly permitRoot = false,
  ) {
    this.clientKey = makeKeyPair(dir, 'client_key');
    writeFileSync(join(dir, 'authorized_keys'), this.clientKey.publicKey, { mode: 0o644 });
  }

  /** `extraConfig` (or options): more sshd_config lines, root login. */
  static async start(options: readonly string[] | SshdOptions = []): Promise<Sshd> {
    const opts: SshdOptions = Array.isArray(options)
      ? { extraConfig: options as readonly string[] }
      : (options as SshdOptions);
    mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
    ensureUser();
    const sshd = new Sshd(tempDir('cmq-sshd-'), await freePort(), opts.extraConfig ?? [], opts.permitRoot === true);
    sshd.hostKey = makeKeyPair(sshd.dir, 'host_key');
    // The port was free when picked; a suite running beside this one may take it before sshd binds.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await sshd.launch();
        return sshd;
      } catch (err) {
        if (attempt >= 3 || !sshd.output.includes('Address already in use')) throw err;
        sshd.port = await freePort();
      }
    }
  }

  private async launch(): Promise<void> {
    const config = join(this.dir, 'sshd_config');
    writeFileSync(
      config,
      [
        `Port ${this.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${this.hostKey.privatePath}`,
        `PidFile ${join(this.dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
        'UsePAM no',
        'StrictModes no',
        `PermitRootLogin ${this.permitRoot ? 'prohibit-password' : 'no'}`,
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'LogLevel VERBOSE',
        ...this.extraConfig,
        '',
      ].join('\n'),
    );
    this.output = '';
    const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    const closed = new Promise((r) => child.once('close', r));
    await waitFor(
      () => this.output.includes(`Server listening on 127.0.0.1 port ${this.port}`) || child.exitCode !== null,
      10_000,
      `sshd on port ${this.port}`,
    );
    if (child.exitCode !== null) {
      await closed; // all of its output read (the reason it exited may come after the exit)
      throw new Error(`sshd exited ${child.exitCode}: ${this.output}`);
    }
  }

  /** `cmq guests add` arguments for a guest of `tenant` on this server, its host key pinned (add `--name` and the rest). */
  guestAddArgs(tenant: string): string[] {
    return [
      'guests',
      'add',
      '--tenant',
      tenant,
      '--address',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--user',
      this.user,
      '--key-file',
      this.clientKey.privatePath,
      '--host-key',
      this.hostKey.fingerprint,
    ];
  }

  /** A directory the test user may write to (for marker files). */
  writableDir(): string {
    const dir = tempDir('cmq-ssh-work-');
    chmodSync(dir, 0o777);
    return dir;
  }

  /** Stops it and starts it again on the same port, with a fresh host key when asked. */
  async restart(opts: { newHostKey?: boolean } = {}): Promise<void> {
    await this.stop();
    if (opts.newHostKey === true) this.hostKey = makeKeyPair(this.dir, 'host_key');
    await this.launch();
  }

  /** Stops the server and cuts its open connections (their per-connection sshd processes). */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const connections = child.pid === undefined ? [] : childPids(child.pid);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
    for (const pid of connections) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
