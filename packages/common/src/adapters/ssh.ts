import { createHmac, randomBytes } from 'node:crypto';
import { NodeSSH } from 'node-ssh';
import type { ProvisioningConfig } from '../config/shared-files';
import { CmqError } from '../errors';
import { type ChannelRun, NotStarted, runOnChannel } from './ssh-channel';
import type { SshOutputListener } from './ssh-output';
import { type HostKeyPolicy, SshError, allowedAddress, judgeHostKey, sshFingerprint } from './ssh-policy';
import { type SshConnection, SshPool, dispose } from './ssh-pool';

export * from './ssh-policy';
export { LineTap, PgidSniffer, type SshOutputListener, type SshStream } from './ssh-output';

/** Where and as whom to connect. */
export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** The decrypted private key (PEM/OpenSSH); zeroed when exec returns (kept until then for a reconnect). */
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
  /** Gets stdout/stderr line by line as they arrive, within ssh.output_cap per stream. */
  output?: SshOutputListener;
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

export interface SshClientOptions {
  /** How long an idle connection is kept for a later command to the same target (default 30 s). */
  idleMs?: number;
}

const DEFAULT_IDLE_MS = 30_000;

/**
 * SSH to guests and hosts: the only module that imports node-ssh/ssh2. Every call checks
 * SOURCE_CIDR before a packet is sent, verifies the host key of every new connection during key
 * exchange (before the key is offered or a command sent), and classifies failures: cannot
 * connect → transient, authentication refused → permanent, host key mismatch → permanent with
 * `security: true`. A non-zero exit status is returned, not thrown.
 *
 * Connections are reused: one that finished a command cleanly stays idle `idleMs` for the next
 * command with the same address, port, user, private key and host-key policy (never another's).
 * At most `ssh.per_host_limit` connections are in use at once per address:port; more callers
 * wait. A connection that errors or closes leaves the pool; a command whose channel cannot be
 * opened on a reused connection is retried once on a new one (it never started). After a timeout
 * or an abort the connection is closed, not reused. `close()` on shutdown.
 */
export class SshClient {
  private readonly pool: SshPool;
  /** Keys the private-key part of the pool key: a per-process HMAC, never the key itself. */
  private readonly keyId = randomBytes(32);

  constructor(
    private readonly settings: SshSettings,
    options: SshClientOptions = {},
  ) {
    this.pool = new SshPool({ perHostLimit: settings.ssh.per_host_limit, idleMs: options.idleMs ?? DEFAULT_IDLE_MS });
  }

  /** Closes idle connections now and every other one when its command ends. */
  close(): void {
    this.pool.close();
  }

  /** Idle connections kept (to `host:port` when given): for tests and status. */
  idleConnections(slot?: string): number {
    return this.pool.idleCount(slot);
  }

  async exec(target: SshTarget, command: string, opts: SshExecOptions = {}): Promise<SshExecResult> {
    const label = `${target.username}@${target.host}:${target.port}`;
    try {
      const address = await allowedAddress(target.host, this.settings.SOURCE_CIDR);
      const slot = `${address}:${target.port}`;
      const key = this.poolKey(slot, target);
      const full = withEnv(command, opts.env);
      await this.pool.acquire(slot, opts.signal);
      let conn: SshConnection | undefined;
      let reusable = false;
      try {
        conn = this.pool.take(slot, key);
        const reused = conn !== undefined;
        conn ??= await this.connect(target, address, slot, key, label);
        let run: ChannelRun;
        try {
          run = await this.start(conn, full, opts);
        } catch (err) {
          // A reused connection found dead at channel open: the command never ran; once more on a new one.
          if (!(err instanceof NotStarted) || !reused) throw err;
          dispose(conn);
          conn = undefined;
          conn = await this.connect(target, address, slot, key, label);
          run = await this.start(conn, full, opts);
        }
        reusable = run.killed === undefined;
        return this.result(conn, run);
      } catch (err) {
        if (err instanceof NotStarted)
          throw new SshError('CMQ_ERR_SSH_CONNECT', `cannot start the command on ${label}: ${err.message}`, {
            transient: true,
            cause: err,
          });
        throw err;
      } finally {
        this.pool.release(slot, conn, reusable);
      }
    } finally {
      target.privateKey.fill(0);
    }
  }

  private start(conn: SshConnection, command: string, opts: SshExecOptions): Promise<ChannelRun> {
    const client = conn.ssh.connection;
    if (client === null || conn.closed)
      return Promise.reject(new NotStarted('SSH connection closed before the command'));
    const { ssh } = this.settings;
    return runOnChannel(client, command, {
      timeoutMs: opts.timeoutMs ?? ssh.command_timeout,
      cap: ssh.output_cap,
      killWaitMs: Math.min(ssh.connect_timeout, 5_000),
      signal: opts.signal,
      output: opts.output,
    });
  }

  private result(conn: SshConnection, run: ChannelRun): SshExecResult {
    if (run.killed === 'abort')
      throw new CmqError('CMQ_ERR_ABORTED', 'remote command interrupted (action timeout or shutdown): killed', {
        transient: true,
      });
    const timedOut = run.killed === 'timeout';
    if (!timedOut && run.code === null && run.signal === null) {
      const lost = conn.lost;
      throw new SshError(
        'CMQ_ERR_SSH_CONNECT',
        `SSH connection lost during the command${lost ? `: ${lost.message}` : ''} (keepalive ssh.keepalive_interval)`,
        { transient: true },
      );
    }
    return {
      code: timedOut ? null : run.code,
      signal: timedOut ? 'KILL' : run.signal,
      stdout: run.stdout,
      stderr: run.stderr,
      truncated: run.truncated,
      timedOut,
      hostKey: conn.hostKey,
    };
  }

  private poolKey(slot: string, target: SshTarget): string {
    const { pinned, trustOnFirstUse, strict } = target.hostKey;
    const keyTag = createHmac('sha256', this.keyId).update(target.privateKey).digest('base64');
    return JSON.stringify([slot, target.username, pinned ?? null, trustOnFirstUse, strict, keyTag]);
  }

  /** A new connection; the host key is judged during key exchange, before authentication. */
  private async connect(
    target: SshTarget,
    address: string,
    slot: string,
    key: string,
    label: string,
  ): Promise<SshConnection> {
    const ssh = new NodeSSH();
    let verdict: ReturnType<typeof judgeHostKey> | undefined;
    try {
      await ssh.connect({
        host: address,
        port: target.port,
        username: target.username,
        // node-ssh takes a string; the Buffer is zeroed after the command, the string is left to the GC.
        privateKey: target.privateKey.toString('utf8'),
        readyTimeout: this.settings.ssh.connect_timeout,
        keepaliveInterval: this.settings.ssh.keepalive_interval,
        keepaliveCountMax: 3,
        tryKeyboard: false,
        hostVerifier: (hostKey: Buffer): boolean => {
          verdict = judgeHostKey(label, sshFingerprint(hostKey), target.hostKey);
          return verdict.ok;
        },
      });
    } catch (err) {
      ssh.dispose();
      if (verdict !== undefined && !verdict.ok) throw verdict.error;
      throw classifyConnectError(err, label, this.settings.ssh.connect_timeout);
    }
    if (verdict === undefined || !verdict.ok) {
      ssh.dispose();
      throw new SshError('CMQ_ERR_SSH_HOSTKEY_UNKNOWN', `host key of ${label} was never verified`, { security: true });
    }
    const conn: SshConnection = {
      ssh,
      slot,
      key,
      hostKey: { fingerprint: verdict.fingerprint, firstUse: verdict.firstUse },
      lost: undefined,
      closed: false,
    };
    const client = ssh.connection;
    // node-ssh drops its 'error' listener once ready: without one, a later socket error would crash the process.
    client?.on('error', (err: Error) => {
      conn.lost = err;
      this.pool.forget(conn);
    });
    client?.on('close', () => {
      conn.closed = true;
      this.pool.forget(conn);
    });
    return conn;
  }
}

function classifyConnectError(err: unknown, label: string, timeoutMs: number): SshError {
  const level = (err as { level?: string }).level;
  const text = err instanceof Error ? err.message : String(err);
  if (level === 'client-authentication') {
    return new SshError('CMQ_ERR_SSH_AUTH', `authentication refused by ${label}: the key was not accepted`, {
      cause: err,
    });
  }
  if (level === 'client-timeout' || /timed out/i.test(text)) {
    return new SshError(
      'CMQ_ERR_SSH_CONNECT',
      `cannot connect to ${label}: no SSH handshake within ${timeoutMs} ms (ssh.connect_timeout)`,
      { transient: true, cause: err },
    );
  }
  if (/private key|unsupported key|cannot parse/i.test(text)) {
    return new SshError(
      'CMQ_ERR_SSH_KEY',
      `the stored private key for ${label} cannot be used (unsupported or encrypted format)`,
    );
  }
  const code = (err as NodeJS.ErrnoException).code;
  return new SshError('CMQ_ERR_SSH_CONNECT', `cannot connect to ${label}: ${code ?? text}`, {
    transient: true,
    cause: err,
  });
}
