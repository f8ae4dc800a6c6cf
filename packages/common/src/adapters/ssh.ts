import { NodeSSH } from 'node-ssh';
import type { ClientChannel } from 'ssh2';
import type { ProvisioningConfig } from '../config/shared-files';
import { CmqError } from '../errors';
import { type HostKeyPolicy, SshError, allowedAddress, judgeHostKey, sshFingerprint } from './ssh-policy';

export * from './ssh-policy';

/** Where and as whom to connect. */
export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** The decrypted private key (PEM/OpenSSH); zeroed once the connection is set up. */
  privateKey: Buffer;
  hostKey: HostKeyPolicy;
}

export interface SshExecOptions {
  /** Kill the remote command after this long (default ssh.command_timeout). */
  timeoutMs?: number;
  /** Exported before the command runs (names must be shell identifiers). */
  env?: Readonly<Record<string, string>>;
  /** Aborts the command (kills it remotely) and the call throws CMQ_ERR_ABORTED (transient). */
  signal?: AbortSignal;
}

export interface SshExecResult {
  /** Exit status; null when the command was killed (timeout) or died of a signal. */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** stdout or stderr went over ssh.output_cap and was cut there. */
  truncated: boolean;
  timedOut: boolean;
  /** The host key accepted; `firstUse` means it was not pinned and should now be recorded. */
  hostKey: { fingerprint: string; firstUse: boolean };
}

export type SshSettings = Pick<ProvisioningConfig, 'SOURCE_CIDR' | 'ssh'>;

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** The command with `env` exported first (sshd refuses most env requests, so no SSH env). */
export function withEnv(command: string, env: Readonly<Record<string, string>> = {}): string {
  const exports = Object.entries(env).map(([k, v]) => {
    if (!ENV_NAME_RE.test(k)) throw new CmqError('CMQ_ERR_SSH_ENV', `env name "${k}" is not a shell identifier`);
    return `export ${k}=${shellQuote(v)}; `;
  });
  return `${exports.join('')}${command}`;
}

/** A byte-capped collector of one output stream. */
class Capped {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly cap: number) {}
  push(chunk: Buffer): void {
    const room = this.cap - this.size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.chunks.push(kept);
    this.size += kept.length;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/**
 * SSH to guests and hosts: the only module that imports node-ssh/ssh2. Every call checks
 * SOURCE_CIDR before a packet is sent, verifies the host key during key exchange (before the key
 * is offered or a command sent), and classifies failures: cannot connect → transient,
 * authentication refused → permanent, host key mismatch → permanent with `security: true`.
 * A non-zero exit status is returned, not thrown. At most `ssh.per_host_limit` connections run
 * at once to one host:port. Connections are not reused (one per command).
 */
export class SshClient {
  private readonly busy = new Map<string, { running: number; waiting: Array<() => void> }>();
  private readonly lost = new WeakMap<NodeSSH, Error>();

  constructor(private readonly settings: SshSettings) {}

  async exec(target: SshTarget, command: string, opts: SshExecOptions = {}): Promise<SshExecResult> {
    const label = `${target.username}@${target.host}:${target.port}`;
    let address: string;
    try {
      address = await allowedAddress(target.host, this.settings.SOURCE_CIDR);
    } catch (err) {
      target.privateKey.fill(0);
      throw err;
    }
    const slot = `${address}:${target.port}`;
    await this.acquire(slot, opts.signal);
    const ssh = new NodeSSH();
    try {
      const hostKey = await this.connect(ssh, target, address, label);
      return await this.run(ssh, withEnv(command, opts.env), opts, hostKey);
    } finally {
      ssh.dispose();
      this.release(slot);
    }
  }

  private async connect(ssh: NodeSSH, target: SshTarget, address: string, label: string): Promise<SshExecResult['hostKey']> {
    let verdict: ReturnType<typeof judgeHostKey> | undefined;
    try {
      await ssh.connect({
        host: address,
        port: target.port,
        username: target.username,
        // node-ssh takes a string; the Buffer is zeroed below, the string is left to the GC.
        privateKey: target.privateKey.toString('utf8'),
        readyTimeout: this.settings.ssh.connect_timeout,
        keepaliveInterval: this.settings.ssh.keepalive_interval,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        hostVerifier: (key: Buffer): boolean => {
          verdict = judgeHostKey(label, sshFingerprint(key), target.hostKey);
          return verdict.ok;
        },
      });
    } catch (err) {
      if (verdict !== undefined && !verdict.ok) throw verdict.error;
      throw classifyConnectError(err, label, this.settings.ssh.connect_timeout);
    } finally {
      target.privateKey.fill(0);
    }
    if (verdict === undefined || !verdict.ok) throw new SshError('CMQ_ERR_SSH_HOSTKEY_UNKNOWN', `host key of ${label} was never verified`, { security: true });
    // node-ssh drops its 'error' listener once ready: without one, a later socket error would crash the process.
    ssh.connection?.on('error', (err: Error) => {
      this.lost.set(ssh, err);
    });
    return { fingerprint: verdict.fingerprint, firstUse: verdict.firstUse };
  }

  private async run(ssh: NodeSSH, command: string, opts: SshExecOptions, hostKey: SshExecResult['hostKey']): Promise<SshExecResult> {
    const client = ssh.connection;
    if (client === null) throw new SshError('CMQ_ERR_SSH_CONNECT', 'SSH connection closed before the command', { transient: true });
    const timeoutMs = opts.timeoutMs ?? this.settings.ssh.command_timeout;
    const stdout = new Capped(this.settings.ssh.output_cap);
    const stderr = new Capped(this.settings.ssh.output_cap);
    // Listeners go on inside exec's callback: for a quick command, data, exit status and close can
    // arrive in the same TCP read as the channel's confirmation, and are emitted before an
    // `await` would resume (the exit status was then lost: "connection lost during the command").
    const { channel, exited } = await new Promise<{ channel: ClientChannel; exited: Promise<{ code: number | null; signal: string | null }> }>((resolve, reject) => {
      client.exec(command, (err, ch) => {
        if (err) {
          reject(new SshError('CMQ_ERR_SSH_CONNECT', `cannot start the command: ${err.message}`, { transient: true, cause: err }));
          return;
        }
        ch.on('data', (d: Buffer) => stdout.push(d));
        ch.stderr.on('data', (d: Buffer) => stderr.push(d));
        let code: number | null = null;
        let sig: string | null = null;
        ch.on('exit', (c: number | null, sg?: string) => {
          code = typeof c === 'number' ? c : null;
          sig = sg ?? null;
        });
        const done = new Promise<{ code: number | null; signal: string | null }>((res) => ch.on('close', () => res({ code, signal: sig })));
        resolve({ channel: ch, exited: done });
      });
    });
    let timedOut = false;
    let aborted = false;
    const kill = (): void => {
      // The signal kills the remote shell (OpenSSH ≥ 7.9); closing the channel alone would not.
      try {
        channel.signal('KILL');
      } catch {
        // channel already gone
      }
      channel.close();
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, timeoutMs);
    const onAbort = (): void => {
      aborted = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted === true) onAbort();
    try {
      const exit = await exited;
      if (aborted) throw new CmqError('CMQ_ERR_ABORTED', 'remote command interrupted (action timeout or shutdown): killed', { transient: true });
      const lost = this.lost.get(ssh);
      if (!timedOut && exit.code === null && exit.signal === null) {
        throw new SshError('CMQ_ERR_SSH_CONNECT', `SSH connection lost during the command${lost ? `: ${lost.message}` : ''} (keepalive ssh.keepalive_interval)`, { transient: true });
      }
      return { code: timedOut ? null : exit.code, signal: timedOut ? 'KILL' : exit.signal, stdout: stdout.text(), stderr: stderr.text(), truncated: stdout.truncated || stderr.truncated, timedOut, hostKey };
    } finally {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
    }
  }

  private async acquire(slot: string, signal?: AbortSignal): Promise<void> {
    const entry = this.busy.get(slot) ?? { running: 0, waiting: [] };
    this.busy.set(slot, entry);
    if (entry.running < this.settings.ssh.per_host_limit) {
      entry.running += 1;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const go = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = (): void => {
        entry.waiting = entry.waiting.filter((w) => w !== go);
        reject(new CmqError('CMQ_ERR_ABORTED', `interrupted while waiting for an SSH slot to ${slot} (ssh.per_host_limit)`, { transient: true }));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      entry.waiting.push(go);
    });
  }

  private release(slot: string): void {
    const entry = this.busy.get(slot);
    if (entry === undefined) return;
    const next = entry.waiting.shift();
    if (next !== undefined) next();
    else if (--entry.running === 0) this.busy.delete(slot);
  }
}

function classifyConnectError(err: unknown, label: string, timeoutMs: number): SshError {
  const level = (err as { level?: string }).level;
  const text = err instanceof Error ? err.message : String(err);
  if (level === 'client-authentication') {
    return new SshError('CMQ_ERR_SSH_AUTH', `authentication refused by ${label}: the key was not accepted`, { cause: err });
  }
  if (level === 'client-timeout' || /timed out/i.test(text)) {
    return new SshError('CMQ_ERR_SSH_CONNECT', `cannot connect to ${label}: no SSH handshake within ${timeoutMs} ms (ssh.connect_timeout)`, { transient: true, cause: err });
  }
  if (/private key|unsupported key|cannot parse/i.test(text)) {
    return new SshError('CMQ_ERR_SSH_KEY', `the stored private key for ${label} cannot be used (unsupported or encrypted format)`);
  }
  const code = (err as NodeJS.ErrnoException).code;
  return new SshError('CMQ_ERR_SSH_CONNECT', `cannot connect to ${label}: ${code ?? text}`, { transient: true, cause: err });
}
