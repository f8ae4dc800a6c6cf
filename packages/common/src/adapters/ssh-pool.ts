import type { NodeSSH } from 'node-ssh';
import { CmqError } from '../errors';

/** One authenticated SSH connection, verified against `key`'s host-key policy when it was opened. */
export interface SshConnection {
  readonly ssh: NodeSSH;
  /** address:port: what ssh.per_host_limit counts. */
  readonly slot: string;
  /** slot, user, host-key policy and private key: a connection serves only the same key again. */
  readonly key: string;
  readonly hostKey: { fingerprint: string; firstUse: boolean };
  /** Set once the connection errored or closed: never used again. */
  lost: Error | undefined;
  closed: boolean;
}

interface Slot {
  inUse: number;
  waiting: Array<() => void>;
  idle: Array<{ conn: SshConnection; timer: NodeJS.Timeout }>;
}

export interface SshPoolOptions {
  /** ssh.per_host_limit: connections in use at once per address:port (idle ones do not count). */
  perHostLimit: number;
  /** How long an idle connection is kept for a later command. */
  idleMs: number;
}

/**
 * Connections per address:port: at most `perHostLimit` in use at once (later callers wait in
 * order), and idle ones kept `idleMs` for a later command with the same pool key. A connection
 * that closes or errors leaves the pool at once. Waiters are served before the slot count drops,
 * so a released connection goes to the next waiter with the same key.
 */
export class SshPool {
  private readonly slots = new Map<string, Slot>();
  private closed = false;

  constructor(private readonly opts: SshPoolOptions) {}

  /** Waits for a place under ssh.per_host_limit on `slot`. */
  async acquire(slot: string, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted === true) throw aborted(slot);
    const entry = this.slot(slot);
    if (entry.inUse < this.opts.perHostLimit) {
      entry.inUse += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        entry.waiting = entry.waiting.filter((w) => w !== go);
        reject(aborted(slot));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiting.push(go);
    });
  }

  /** An idle connection with this key (the most recently used), taken out of the pool. */
  take(slot: string, key: string): SshConnection | undefined {
    const entry = this.slots.get(slot);
    if (entry === undefined) return undefined;
    for (let i = entry.idle.length - 1; i >= 0; i -= 1) {
      const held = entry.idle[i];
      if (held === undefined || held.conn.key !== key) continue;
      entry.idle.splice(i, 1);
      clearTimeout(held.timer);
      if (!held.conn.closed && held.conn.lost === undefined) return held.conn;
      dispose(held.conn);
    }
    return undefined;
  }

  /**
   * Gives the place on `slot` back; `conn`, when given and `reusable`, is kept idle (else
   * closed). Idle connections of a host are capped at perHostLimit (the oldest is closed).
   */
  release(slot: string, conn: SshConnection | undefined, reusable: boolean): void {
    const entry = this.slot(slot);
    if (conn !== undefined) {
      if (reusable && !this.closed && !conn.closed && conn.lost === undefined) this.keep(entry, conn);
      else dispose(conn);
    }
    const next = entry.waiting.shift();
    if (next !== undefined) next();
    else entry.inUse -= 1;
    if (entry.inUse === 0 && entry.idle.length === 0 && entry.waiting.length === 0) this.slots.delete(slot);
  }

  /** Called when a connection closes or errors: it leaves the idle list at once. */
  forget(conn: SshConnection): void {
    const entry = this.slots.get(conn.slot);
    if (entry === undefined) return;
    const at = entry.idle.findIndex((h) => h.conn === conn);
    if (at === -1) return;
    const [held] = entry.idle.splice(at, 1);
    if (held !== undefined) clearTimeout(held.timer);
    dispose(conn);
    if (entry.inUse === 0 && entry.idle.length === 0 && entry.waiting.length === 0) this.slots.delete(conn.slot);
  }

  /** Idle connections now (for tests and status). */
  idleCount(slot?: string): number {
    let n = 0;
    for (const [name, entry] of this.slots) if (slot === undefined || name === slot) n += entry.idle.length;
    return n;
  }

  /** Closes every idle connection; connections in use are closed when released. */
  close(): void {
    this.closed = true;
    for (const entry of this.slots.values()) {
      for (const held of entry.idle) {
        clearTimeout(held.timer);
        dispose(held.conn);
      }
      entry.idle = [];
    }
  }

  private keep(entry: Slot, conn: SshConnection): void {
    const timer = setTimeout(() => this.forget(conn), this.opts.idleMs);
    // An idle connection must not keep a process alive by itself.
    timer.unref();
    entry.idle.push({ conn, timer });
    while (entry.idle.length > this.opts.perHostLimit) {
      const oldest = entry.idle.shift();
      if (oldest === undefined) break;
      clearTimeout(oldest.timer);
      dispose(oldest.conn);
    }
  }

  private slot(name: string): Slot {
    let entry = this.slots.get(name);
    if (entry === undefined) {
      entry = { inUse: 0, waiting: [], idle: [] };
      this.slots.set(name, entry);
    }
    return entry;
  }
}

/** Closes the connection (the TCP socket with it); safe to call twice. */
export function dispose(conn: SshConnection): void {
  conn.closed = true;
  conn.ssh.dispose();
}

function aborted(slot: string): CmqError {
  return new CmqError('CMQ_ERR_ABORTED', `interrupted while waiting for an SSH slot to ${slot} (ssh.per_host_limit)`, {
    transient: true,
  });
}
