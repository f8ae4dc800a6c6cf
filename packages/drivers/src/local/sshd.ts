import { execFile } from 'node:child_process';
import { access, constants, rename, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { sleep } from '@cmq/common';
import { ensureDir, readIfExists, writeAtomic } from './files';
import type { ServerPaths } from './layout';
import { errnoCode, fsError, localError } from './local-errors';
import type { LocalSettings } from './options';
import { otherLoginUser } from './home';
import { descendants, isOurs, killAll, spawnDetached, sshAnswers } from './processes';

const run = promisify(execFile);

/** Output of a failed command, one line, without anything that could be key material. */
function failureText(err: unknown): string {
  const e = err as { code?: unknown; stderr?: unknown };
  const stderr = typeof e.stderr === 'string' ? e.stderr.replace(/\s+/g, ' ').trim().slice(0, 300) : '';
  const code = typeof e.code === 'number' || typeof e.code === 'string' ? `exit ${e.code}` : 'failed';
  return `${code}${stderr === '' ? '' : `: ${stderr}`}`;
}

/** Makes the server's ed25519 host key once (a crash mid-way leaves no half key: rename). */
export async function ensureHostKey(operation: string, paths: ServerPaths): Promise<void> {
  if (
    (await readIfExists(operation, `${paths.hostKey}.pub`)) !== undefined &&
    (await readIfExists(operation, paths.hostKey)) !== undefined
  )
    return;
  const tmp = `${paths.hostKey}.new`;
  await rm(tmp, { force: true });
  await rm(`${tmp}.pub`, { force: true });
  try {
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `cmq-local ${paths.dir}`, '-f', tmp]);
  } catch (err) {
    const kind = errnoCode(err) === 'ENOENT' ? 'permanent' : 'transient';
    throw localError(
      kind,
      operation,
      `ssh-keygen -t ed25519 -f ${tmp}: ${errnoCode(err) === 'ENOENT' ? 'ssh-keygen not found (install openssh-client)' : failureText(err)}`,
    );
  }
  // The private half first: the public half's presence says the pair is complete.
  try {
    await rename(tmp, paths.hostKey);
    await rename(`${tmp}.pub`, `${paths.hostKey}.pub`);
  } catch (err) {
    throw fsError(operation, 'cannot install the host key', paths.hostKey, err);
  }
}

/** `SHA256:...` of the host key, as `ssh-keygen -l -E sha256` prints it. */
export async function hostKeyFingerprint(operation: string, paths: ServerPaths): Promise<string> {
  try {
    const { stdout } = await run('ssh-keygen', ['-l', '-E', 'sha256', '-f', `${paths.hostKey}.pub`]);
    const fp = stdout.split(' ')[1] ?? '';
    if (!fp.startsWith('SHA256:')) throw new Error(`unexpected output`);
    return fp;
  } catch (err) {
    throw localError('transient', operation, `ssh-keygen -l -E sha256 -f ${paths.hostKey}.pub: ${failureText(err)}`);
  }
}

/**
 * The server's sshd_config. Only the server's own authorized_keys admits anyone, only its login
 * user, only by key. `SetEnv HOME` points the session's $HOME at the server's home (sshd still
 * starts the session in the user's passwd home directory). StrictModes is off: the key files
 * live in the state dir, not in the user's ~/.ssh.
 */
export function sshdConfig(settings: LocalSettings, paths: ServerPaths, address: string): string {
  return [
    `# cmq local cloud: ${paths.dir} (rewritten at every launch and reboot)`,
    `ListenAddress ${address}:${settings.sshPort}`,
    `HostKey ${paths.hostKey}`,
    `PidFile ${paths.sshdPid}`,
    `AuthorizedKeysFile ${paths.authorizedKeys}`,
    `AllowUsers ${settings.loginUser}`,
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'HostbasedAuthentication no',
    'UsePAM no',
    'StrictModes no',
    'X11Forwarding no',
    'PrintMotd no',
    'PrintLastLog no',
    'LogLevel VERBOSE',
    `SetEnv HOME=${paths.home}`,
    'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

/** Refuses early, with what to install, when sshd is not there. */
export async function checkSshd(operation: string, sshdPath: string): Promise<void> {
  try {
    await access(sshdPath, constants.X_OK);
  } catch (err) {
    throw localError(
      'permanent',
      operation,
      `${sshdPath}: ${errnoCode(err)} (install openssh-server, or set the driver's sshdPath)`,
      'SshdMissing',
    );
  }
  if (process.getuid?.() === 0) {
    // Root's sshd separates privileges and wants its empty directory (the Debian unit makes it).
    await ensureDir(operation, '/run/sshd', 0o755);
  }
}

export type SshdStart = { ok: true; pid: number } | { ok: false; addressInUse: boolean; reason: string };

/** The last lines sshd wrote to its log, for an error message. */
async function logTail(operation: string, paths: ServerPaths): Promise<string> {
  const text = (await readIfExists(operation, paths.sshdLog)) ?? '';
  return text.trim().split('\n').slice(-3).join(' | ');
}

/**
 * Starts the server's sshd detached (`-D`: no fork, so the pid is sshd's; its own session, so it
 * outlives the process that launched it) and waits until it answers SSH on address:port.
 */
export async function startSshd(
  operation: string,
  settings: LocalSettings,
  paths: ServerPaths,
  address: string,
  signal?: AbortSignal,
): Promise<SshdStart> {
  const logBefore = ((await readIfExists(operation, paths.sshdLog)) ?? '').length;
  let pid: number;
  try {
    pid = await spawnDetached(settings.sshdPath, ['-D', '-f', paths.config, '-E', paths.sshdLog], paths.dir);
  } catch (err) {
    throw localError(
      'permanent',
      operation,
      `cannot start ${settings.sshdPath}: ${errnoCode(err)} (install openssh-server)`,
      'SshdMissing',
    );
  }
  const deadline = Date.now() + settings.startTimeoutMs;
  for (;;) {
    if (await sshAnswers(address, settings.sshPort)) return { ok: true, pid };
    if (!isOurs(pid, paths.config)) {
      const log = ((await readIfExists(operation, paths.sshdLog)) ?? '').slice(logBefore);
      return {
        ok: false,
        addressInUse: /Address already in use|Cannot bind any address/.test(log),
        reason: `sshd exited: ${await logTail(operation, paths)}`,
      };
    }
    if (Date.now() > deadline || signal?.aborted === true) {
      // With whatever it started (a wedged sshd's children), so that nothing of it lingers.
      killAll([pid, ...descendants(pid)]);
      return {
        ok: false,
        addressInUse: false,
        reason: `sshd did not answer on ${address}:${settings.sshPort} within ${settings.startTimeoutMs} ms (${paths.sshdLog}: ${await logTail(operation, paths)})`,
      };
    }
    await sleep(100);
  }
}

/**
 * The server's own log writer: a shell loop appending a timestamped line to home/log/app.log
 * every second, so that log collection has a growing file to read. It runs as the login user
 * (as root serving another user, it drops to that user): the home is that user's, so the loop
 * must never write there with more rights than the user has (a link planted as app.log would
 * otherwise redirect root's appends). Every `appLogRotateLines` lines it renames the file to
 * app.log.1 (`mv -T`: a link planted there is replaced, never followed into a directory; a
 * directory there makes the rename fail and the file simply grows on) and goes on in a new
 * one, so a long-lived server's log stays bounded and log collection meets a real rotation. It
 * stops by itself when it cannot append (its log directory gone). Its pid file, in the server's
 * directory (not the user's), is written here.
 */
const LOG_LOOP =
  'n=0; while :; do n=$((n+1)); printf "%s %s heartbeat %d\\n" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$2" "$n" >> "$1" || exit 0; [ $((n % $3)) -ne 0 ] || mv -fT -- "$1" "$1.1" 2>/dev/null; sleep 1; done';

export async function startLogLoop(
  operation: string,
  settings: LocalSettings,
  paths: ServerPaths,
  id: string,
): Promise<number> {
  const as = await otherLoginUser(operation, settings);
  let pid: number;
  try {
    pid = await spawnDetached(
      '/bin/sh',
      ['-c', LOG_LOOP, 'cmq-local-log', paths.appLog, id, String(settings.appLogRotateLines)],
      paths.home,
      as,
    );
  } catch (err) {
    throw localError(
      'permanent',
      operation,
      `cannot start /bin/sh for ${paths.appLog}${as === undefined ? '' : ` as ${settings.loginUser}`}: ${errnoCode(err)}`,
    );
  }
  try {
    await writeAtomic(operation, paths.logPid, `${pid}\n`);
  } catch (err) {
    killAll([pid]);
    throw err;
  }
  return pid;
}
