import { join } from 'node:path';
import pino from 'pino';

type Destination = ReturnType<typeof pino.destination>;

/** Tenant ids are restricted to this shape, so a tenant can never name a path outside tenants/. */
const TENANT_RE = /"tenant":"([A-Za-z0-9][A-Za-z0-9_-]{0,62})"/;

/**
 * The stream behind the root logger: every line goes to the process's own file, and a line
 * that names a tenant also goes to `tenants/<tenant>.log`. Files are opened with O_APPEND and
 * each line is one write(2), so several processes can share a tenant file without
 * interleaving mid-line, and nothing logged sits in a buffer when the process exits or crashes
 * (busy per-action lines are at debug level, so the cost of a write per line stays small). At most `maxTenantFiles` tenant files stay open (least recently used
 * closed first).
 */
export class LogRouter {
  private readonly main: Destination;
  private readonly tenants = new Map<string, Destination>();

  constructor(
    private readonly dir: string,
    mainFile: string,
    private readonly maxTenantFiles = 128,
  ) {
    this.main = this.open(join(dir, mainFile));
  }

  /** Called by pino with one serialized line (newline included). */
  write(line: string): void {
    this.main.write(line);
    const tenant = TENANT_RE.exec(line)?.[1];
    if (tenant !== undefined) this.tenant(tenant).write(line);
  }

  /** Reopens every file by path (after logrotate renamed them). */
  reopen(): void {
    this.main.reopen();
    for (const dest of this.tenants.values()) dest.reopen();
  }

  /** Writes out everything buffered, synchronously (used just before a forced exit). */
  flushSync(): void {
    for (const dest of [this.main, ...this.tenants.values()]) {
      try {
        dest.flushSync();
      } catch {
        // a destination that is not open yet has nothing to flush
      }
    }
  }

  /** Flushes and closes every file. */
  async close(): Promise<void> {
    const all = [this.main, ...this.tenants.values()];
    this.tenants.clear();
    await Promise.all(all.map((dest) => endDestination(dest)));
  }

  private tenant(id: string): Destination {
    let dest = this.tenants.get(id);
    if (dest !== undefined) {
      this.tenants.delete(id);
      this.tenants.set(id, dest);
      return dest;
    }
    dest = this.open(join(this.dir, 'tenants', `${id}.log`));
    this.tenants.set(id, dest);
    if (this.tenants.size > this.maxTenantFiles) {
      const [oldest, oldDest] = this.tenants.entries().next().value as [string, Destination];
      this.tenants.delete(oldest);
      void endDestination(oldDest);
    }
    return dest;
  }

  private open(path: string): Destination {
    const dest = pino.destination({ dest: path, sync: true, mkdir: true, append: true });
    dest.on('error', (err: Error) => {
      process.stderr.write(`cmq: cannot write log file ${path}: ${err.message}\n`);
    });
    return dest;
  }
}

function endDestination(dest: Destination): Promise<void> {
  return new Promise((resolve) => {
    dest.once('close', () => resolve());
    dest.once('error', () => resolve());
    try {
      dest.end();
    } catch {
      resolve();
    }
  });
}
