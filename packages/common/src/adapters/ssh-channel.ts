import { randomBytes } from 'node:crypto';
import type { Client, ClientChannel } from 'ssh2';
import { Capped, LineTap, PgidSniffer, type SshOutputListener } from './ssh-output';
import { CmqError } from '../errors';
import { SshError } from './ssh-policy';

export interface ChannelRun {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  truncated: boolean;
  /** The remote command was killed: at its timeout, or because `signal` aborted. */
  killed: 'timeout' | 'abort' | undefined;
}

/** The command could not start (channel or exec refused, connection gone): nothing ran remotely. */
export class NotStarted extends Error {}

export interface ChannelOptions {
  timeoutMs: number;
  cap: number;
  /** Bound on each step of killing (the kill command, the channel's close). */
  killWaitMs: number;
  signal?: AbortSignal;
  output?: SshOutputListener;
}

/**
 * Why the command is wrapped: on timeout (or abort) the remote command must die, whoever the
 * login user is. OpenSSH refuses the channel 'signal' request for root sessions, and closing the
 * channel only closes the command's pipes (`sleep 300; touch f` still touches f). A pty would
 * hang the session up, but merges stderr into stdout, rewrites newlines and a command may ignore
 * SIGHUP; a remote `timeout` (coreutils) cannot serve an abort and is not everywhere. So the
 * command first prints its shell's pid, which is its process group (sshd starts every session
 * with setsid), on a line tagged with a per-command nonce that no output can forge; to kill it,
 * a second command on the same connection runs `kill -s KILL -- -<pgid>`, which takes the shell
 * and every child that stayed in its group. The POSIX form works in dash, bash, busybox sh.
 */
function wrapCommand(command: string, nonce: string): string {
  return `printf 'cmq-pgid:%s:%s\\n' ${nonce} "$$"; ${command}`;
}

/** Starts an exec channel; listeners are attached inside the callback (nothing emitted is missed). */
function open(client: Client, command: string, attach: (ch: ClientChannel) => void): Promise<ClientChannel> {
  return new Promise((resolve, reject) => {
    try {
      client.exec(command, (err, ch) => {
        if (err) {
          // 'Unable to exec' may also mean the connection died after the request was sent: the
          // command may have started, so it is not retried here (the action's retry decides).
          reject(
            err.message === 'Unable to exec'
              ? new SshError(
                  'CMQ_ERR_SSH_CONNECT',
                  'the command was refused by the server, or the connection dropped as it started',
                  { transient: true, cause: err },
                )
              : new NotStarted(err.message, { cause: err }),
          );
          return;
        }
        attach(ch);
        resolve(ch);
      });
    } catch (err) {
      // ssh2 throws 'Not connected' when the socket is already gone.
      reject(new NotStarted(err instanceof Error ? err.message : String(err), { cause: err }));
    }
  });
}

const within = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    void p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });

/** Kills the remote process group `pgid` from a second channel; waits at most `ms`. */
async function killGroup(client: Client, pgid: number, ms: number): Promise<void> {
  const closed = new Promise<void>((resolve, reject) => {
    open(client, `kill -s KILL -- -${pgid} 2>/dev/null || kill -s KILL ${pgid} 2>/dev/null; true`, (ch) => {
      ch.resume();
      ch.stderr.resume();
      ch.on('close', () => resolve());
    }).catch(reject);
  });
  await within(closed, ms);
}

/**
 * Waits for the channel of `opening`, but no longer than `timeoutMs` and only until `signal`
 * aborts: a server that keeps the connection alive (keepalives answered) yet never answers the
 * session or exec request would otherwise hold the action, its slot and the host's pool slot for
 * ever. On giving up the connection is destroyed (the pending request then fails and nothing is
 * left waiting on it); whether the command started is unknown, so the error is transient and
 * never retried here on another connection.
 */
async function openWithin(
  client: Client,
  opts: ChannelOptions,
  opening: Promise<ClientChannel>,
): Promise<ClientChannel> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const gaveUp = new Promise<'timeout' | 'abort'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), opts.timeoutMs);
    onAbort = () => resolve('abort');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.signal?.aborted === true) resolve('abort');
  });
  try {
    const first = await Promise.race([opening, gaveUp]);
    if (typeof first !== 'string') return first;
    opening.then(
      (ch) => ch.close(),
      () => undefined,
    );
    client.destroy();
    if (first === 'abort')
      throw new CmqError(
        'CMQ_ERR_ABORTED',
        'remote command interrupted (action timeout or shutdown) before the server started it; connection dropped',
        { transient: true },
      );
    throw new SshError(
      'CMQ_ERR_SSH_CONNECT',
      `the server did not start the command within ${opts.timeoutMs / 1000} s (no answer to the session or exec request); connection dropped`,
      { transient: true },
    );
  } finally {
    clearTimeout(timer);
    if (onAbort !== undefined) opts.signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * Runs `command` (already carrying its env exports) on a connected client: output capped at
 * `cap` per stream (and passed line by line to `output`), killed at `timeoutMs` or when `signal`
 * aborts. Throws NotStarted when the channel could not be opened.
 */
export async function runOnChannel(client: Client, command: string, opts: ChannelOptions): Promise<ChannelRun> {
  const nonce = randomBytes(9).toString('hex');
  const stdout = new Capped(opts.cap);
  const stderr = new Capped(opts.cap);
  const outTap = opts.output === undefined ? undefined : new LineTap('stdout', opts.cap, opts.output);
  const errTap = opts.output === undefined ? undefined : new LineTap('stderr', opts.cap, opts.output);
  const sniffer = new PgidSniffer(nonce, (d) => {
    stdout.push(d);
    outTap?.push(d);
  });
  let code: number | null = null;
  let sig: string | null = null;
  let closed!: Promise<void>;
  const channel = await openWithin(
    client,
    opts,
    open(client, wrapCommand(command, nonce), (ch) => {
      ch.on('data', (d: Buffer) => sniffer.push(d));
      ch.stderr.on('data', (d: Buffer) => {
        stderr.push(d);
        errTap?.push(d);
      });
      ch.on('exit', (c: number | null, sg?: string) => {
        code = typeof c === 'number' ? c : null;
        sig = sg ?? null;
      });
      closed = new Promise<void>((resolve) =>
        ch.on('close', () => {
          sniffer.end();
          outTap?.end();
          errTap?.end();
          resolve();
        }),
      );
    }),
  );
  let killed: ChannelRun['killed'];
  let killing: Promise<void> | undefined;
  let forceEnd!: () => void;
  const forced = new Promise<void>((resolve) => (forceEnd = resolve));
  const kill = (why: 'timeout' | 'abort'): void => {
    if (killed !== undefined) return;
    killed = why;
    killing = (async () => {
      try {
        const pgid = await within(sniffer.group, opts.killWaitMs);
        // No process group known (the tag line never came): the signal request works for non-root only.
        if (pgid !== undefined) await killGroup(client, pgid, opts.killWaitMs);
        else channel.signal('KILL');
        channel.close();
        // A dead connection never confirms the close: stop waiting (the caller drops the connection).
        await within(closed, opts.killWaitMs);
      } catch {
        // the channel or connection is already gone: nothing left to kill through it
      } finally {
        forceEnd();
      }
    })();
  };
  const timer = setTimeout(() => kill('timeout'), opts.timeoutMs);
  const onAbort = (): void => kill('abort');
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted === true) onAbort();
  try {
    await Promise.race([closed, forced]);
  } finally {
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
  }
  // The group kill completes before the result (and the connection) is handed back.
  if (killing !== undefined) await killing;
  sniffer.end();
  return {
    code,
    signal: sig,
    stdout: stdout.text(),
    stderr: stderr.text(),
    truncated: stdout.truncated || stderr.truncated,
    killed,
  };
}
