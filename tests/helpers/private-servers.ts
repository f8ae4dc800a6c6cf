import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileP } from './process';
import { waitFor } from './wait';

/**
 * Private servers for outage tests: the shared services on the standard ports must never be
 * stopped (other test files run in parallel), so a test that needs one to go away starts its own.
 */

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A `redis-server` child on `port`: without persistence, or with an append-only file in
 * `persistDir` (fsync always) so that data survives a kill and restart.
 */
export class RedisServer {
  private child: ChildProcess | undefined;

  constructor(
    readonly port: number,
    private readonly persistDir?: string,
    /** More redis-server arguments (a TLS port...). */
    private readonly extraArgs: string[] = [],
  ) {}

  /** Starts it and waits until it accepts connections. */
  async start(): Promise<void> {
    const persistence =
      this.persistDir === undefined
        ? ['--appendonly', 'no']
        : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', this.persistDir];
    const child = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', ...persistence, ...this.extraArgs],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.child = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    await waitFor(
      () => output.includes('Ready to accept connections') || child.exitCode !== null,
      10_000,
      `redis-server on port ${this.port}`,
    );
    if (child.exitCode !== null)
      throw new Error(`redis-server on port ${this.port} exited ${child.exitCode}: ${output}`);
  }

  /** Kills it (SIGKILL: a crash, no goodbye to clients) and waits for the exit. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}

/** The newest PostgreSQL server binaries installed (Debian layout). */
function pgBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, 'bin', 'pg_ctl')))
    .sort((a, b) => Number(b) - Number(a));
  if (versions[0] === undefined) throw new Error(`no PostgreSQL server binaries under ${root}`);
  return join(root, versions[0], 'bin');
}

/**
 * A throwaway PostgreSQL cluster (trust auth, user postgres) on 127.0.0.1:`port`.
 * initdb and pg_ctl refuse to run as root, so as root they run as the `postgres` user.
 */
export class PgCluster {
  readonly dir: string;
  private readonly bin = pgBinDir();

  constructor(readonly port: number) {
    this.dir = mkdtempSync(join(tmpdir(), 'cmq-pg-'));
    if (process.getuid?.() === 0) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
      chownSync(this.dir, uid, gid);
    }
  }

  async init(): Promise<void> {
    await this.run('initdb', ['-A', 'trust', '-U', 'postgres', '-D', join(this.dir, 'data')]);
  }

  /** Starts it; `settings` are more `-c name=value` server settings (ssl=on...), after the defaults. */
  async start(settings: string[] = []): Promise<void> {
    const more = settings.map((s) => ` -c ${s}`).join('');
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off${more}`;
    await this.run('pg_ctl', [
      '-D',
      join(this.dir, 'data'),
      '-o',
      options,
      '-l',
      join(this.dir, 'server.log'),
      '-w',
      'start',
    ]);
  }

  /** Stops it at once: clients see their connections cut. */
  async stop(): Promise<void> {
    await this.run('pg_ctl', ['-D', join(this.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  }

  /** Stops it if running and deletes its files. */
  async remove(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async run(tool: string, args: string[]): Promise<void> {
    const file = join(this.bin, tool);
    const [cmd, cmdArgs]: [string, string[]] =
      process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
    await execFileP(cmd, cmdArgs, { timeout: 60_000 });
  }
}
