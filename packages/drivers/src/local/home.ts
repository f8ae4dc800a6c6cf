import { execFile } from 'node:child_process';
import { type Stats, constants } from 'node:fs';
import { type FileHandle, access, lchown, lstat, mkdir, open, rmdir } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { sleep } from '@cmq/common';
import { ensureDir, remove } from './files';
import type { ServerPaths } from './layout';
import { errnoCode, fsError, localError } from './local-errors';
import type { LocalSettings } from './options';
import { killAll, processExists, userProcessesIn } from './processes';

const run = promisify(execFile);

interface PasswdEntry {
  uid: number;
  gid: number;
  shell: string;
}

/** A user's passwd entry (from `getent passwd`, so NSS users count too). */
async function passwdEntry(operation: string, user: string): Promise<PasswdEntry> {
  let line: string;
  try {
    line = (await run('getent', ['passwd', user])).stdout.split('\n')[0] ?? '';
  } catch (err) {
    if (errnoCode(err) === 'ENOENT')
      throw localError('permanent', operation, `loginUser "${user}": getent not found (install libc-bin)`);
    throw localError(
      'permanent',
      operation,
      `loginUser "${user}": no such user on this machine (getent passwd ${user})`,
      'InvalidParameterValue',
    );
  }
  const fields = line.split(':');
  const uid = Number(fields[2]);
  const gid = Number(fields[3]);
  if (fields.length < 7 || !Number.isInteger(uid) || !Number.isInteger(gid))
    throw localError('permanent', operation, `loginUser "${user}": unexpected passwd entry from getent passwd ${user}`);
  return { uid, gid, shell: fields[6] ?? '' };
}

/** Shells that refuse every command (`nologin -c ...` and `false -c ...` fail). */
const NO_LOGIN_SHELL_RE = /(^|\/)(nologin|false)$/;

/**
 * Who may log in: a non-root sshd authenticates only the user it runs as (OpenSSH's unprivileged
 * mode), so then the login user must be that user; as root, any existing user. Either way the
 * user needs a real shell: sshd runs every command as `<shell> -c <command>`, so a user with
 * nologin or false (a system user such as `cmq` of an older install) would get servers that
 * refuse every command.
 */
export async function checkLoginUser(operation: string, settings: LocalSettings): Promise<void> {
  const self = userInfo().username;
  const user = settings.loginUser;
  if (process.getuid?.() !== 0 && user !== self) {
    throw localError(
      'permanent',
      operation,
      `loginUser "${user}": a non-root sshd (this process runs as ${self}) admits only its own user`,
      'InvalidParameterValue',
    );
  }
  const { uid, shell: field } = await passwdEntry(operation, user);
  if (uid === 0 && !(settings.rootNamed && user === 'root')) {
    throw localError(
      'permanent',
      operation,
      `loginUser "${user}" is root (uid 0): every tenant with a local account would get a root shell on this machine; set provisioning.cfg cloud.local.login_user to a dedicated user with a login shell, or name root explicitly (cloud.local.login_user=root) to accept that`,
      'InvalidParameterValue',
    );
  }
  // An empty shell field means /bin/sh to login(1) and sshd.
  const shell = field === '' ? '/bin/sh' : field;
  const fix = `give it a shell (usermod -s /bin/sh ${user}) or, with the subscriber running as root, set provisioning.cfg cloud.local.login_user to a user with one`;
  if (NO_LOGIN_SHELL_RE.test(shell)) {
    throw localError(
      'permanent',
      operation,
      `loginUser "${user}" has the login shell ${shell}: every command on its servers would be refused; ${fix}`,
      'InvalidParameterValue',
    );
  }
  try {
    await access(shell, constants.X_OK);
  } catch (err) {
    throw localError(
      'permanent',
      operation,
      `loginUser "${user}": its login shell ${shell} is missing or not executable (${errnoCode(err)}); ${fix}`,
      'InvalidParameterValue',
    );
  }
}

/**
 * The user a server's home and log writer belong to when it is not this process's own: the
 * subscriber runs as root and serves another login user. undefined otherwise (nothing to give away).
 */
export async function otherLoginUser(
  operation: string,
  settings: LocalSettings,
): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0 || settings.loginUser === userInfo().username) return undefined;
  const { uid, gid } = await passwdEntry(operation, settings.loginUser);
  return { uid, gid };
}

/** A minimal environment for commands run as the login user (nothing of the subscriber's own). */
const USER_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

/** `/`, then every directory down to `dir` itself. */
function pathFromRoot(dir: string): string[] {
  const out: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    out.unshift(d);
    if (dirname(d) === d) return out;
  }
}

/**
 * Refuses, before anything starts, a server whose home its login user cannot reach: serving
 * another user as root, every directory from `/` down to the server's directory must be
 * searchable (x) by that user, or its log writer cannot enter the home and its sessions cannot use
 * it. Checked by running `test -x` as that user, with the rights the log writer has (its uid and
 * primary group: spawning as a user drops the supplementary groups), so ACLs count as they will.
 */
export async function checkHomeReachable(
  operation: string,
  settings: LocalSettings,
  paths: ServerPaths,
): Promise<void> {
  const other = await otherLoginUser(operation, settings);
  if (other === undefined) return;
  const script = 'for d in "$@"; do test -x "$d" || { printf %s "$d"; exit 0; }; done';
  let blocked: string;
  try {
    blocked = (
      await run('/bin/sh', ['-c', script, 'cmq-local-check', ...pathFromRoot(paths.dir)], {
        cwd: '/',
        env: USER_ENV,
        uid: other.uid,
        gid: other.gid,
      })
    ).stdout;
  } catch (err) {
    throw localError(
      'transient',
      operation,
      `cannot check as ${settings.loginUser} that ${paths.home} is reachable: /bin/sh ${errnoCode(err)}`,
    );
  }
  if (blocked !== '') {
    throw localError(
      'permanent',
      operation,
      `loginUser "${settings.loginUser}" cannot reach ${paths.home}: it may not traverse ${blocked}; make cloud.local.state_dir and every directory above it traversable by that user (e.g. chmod o+x ${blocked}, or mode 0711)`,
      'HomeUnreachable',
    );
  }
}

/**
 * Removes a server's directory. Its home belongs to its login user when a root process served
 * another user: that user could swap a directory in it for a link while root walks it, so root
 * never walks it. The user's processes still in the server are ended first, then the home's
 * content is removed with the user's own rights (`rm -rf` as the home's owner, who cannot unlink
 * the home itself from the server's root-owned directory), then the emptied home and the rest of
 * the server's directory (root's own files) as this process.
 */
export async function removeServerDir(operation: string, paths: ServerPaths): Promise<void> {
  if (process.getuid?.() === 0) {
    let st: Stats | undefined;
    try {
      st = await lstat(paths.home);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw fsError(operation, 'cannot inspect', paths.home, err);
    }
    if (st?.isDirectory() === true && st.uid !== 0) {
      const pids = userProcessesIn(st.uid, paths.dir);
      killAll(pids);
      for (const deadline = Date.now() + 2_000; pids.some(processExists) && Date.now() < deadline;) await sleep(20);
      try {
        await run('rm', ['-rf', '--', paths.home], { cwd: '/', env: USER_ENV, uid: st.uid, gid: st.gid });
      } catch (err) {
        // Expected: rm cannot unlink the home itself (the server's directory is root's). What it left is seen below.
        if (errnoCode(err) === 'ENOENT')
          throw localError('permanent', operation, `cannot remove ${paths.home}: rm not found (install coreutils)`);
      }
      try {
        await rmdir(paths.home);
      } catch (err) {
        if (errnoCode(err) === 'ENOTEMPTY' || errnoCode(err) === 'EEXIST') {
          throw localError(
            'transient',
            operation,
            `cannot remove ${paths.home}: its user (uid ${st.uid}) could not remove all of its content; remove it by hand`,
          );
        }
        if (errnoCode(err) !== 'ENOENT') throw fsError(operation, 'cannot remove', paths.home, err);
      }
    }
  }
  await remove(operation, paths.dir);
}

function linkRefused(operation: string, path: string, what: string): Error {
  return localError(
    'permanent',
    operation,
    `${path} ${what}: the local cloud does not follow links in a server's home (its login user controls it); remove it`,
    'InvalidHomeContent',
  );
}

/**
 * Opens the server's `home/log/app.log` for appending (creating log/ and app.log when missing)
 * without following a symbolic link below the home, whose content the login user controls (the
 * home itself sits in the server's directory, which only this process's user can change): log/
 * is opened O_NOFOLLOW|O_DIRECTORY and app.log through that descriptor (`/proc/self/fd/N/app.log`,
 * O_NOFOLLOW), so a link swapped in meanwhile cannot redirect a write made as root. A hard link
 * (a second name of another file) and a file or directory owned by a third user are refused too.
 * Serving another login user, what was created here is given to that user (fchown, on the
 * descriptors, never by path). The caller closes the handle.
 */
export async function openAppLog(operation: string, settings: LocalSettings, paths: ServerPaths): Promise<FileHandle> {
  const other = await otherLoginUser(operation, settings);
  const owners = new Set([process.getuid?.() ?? 0, ...(other === undefined ? [] : [other.uid])]);
  let dirCreated = true;
  try {
    await mkdir(paths.logDir, 0o755);
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(operation, 'cannot create directory', paths.logDir, err);
    dirCreated = false;
  }
  let dir: FileHandle;
  try {
    dir = await open(paths.logDir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (err) {
    if (['ELOOP', 'ENOTDIR'].includes(errnoCode(err)))
      throw linkRefused(operation, paths.logDir, 'is a symbolic link or not a directory');
    throw fsError(operation, 'cannot open', paths.logDir, err);
  }
  try {
    const dirStat = await dir.stat();
    if (!owners.has(dirStat.uid))
      throw linkRefused(operation, paths.logDir, `is owned by uid ${dirStat.uid}, not by ${settings.loginUser}`);
    if (other !== undefined && dirCreated) await dir.chown(other.uid, other.gid);
    const through = join('/proc/self/fd', String(dir.fd), 'app.log');
    let file: FileHandle;
    let created = true;
    try {
      try {
        file = await open(
          through,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o644,
        );
      } catch (err) {
        if (errnoCode(err) !== 'EEXIST') throw err;
        created = false;
        file = await open(
          through,
          constants.O_WRONLY | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK,
        );
      }
    } catch (err) {
      if (errnoCode(err) === 'ELOOP') throw linkRefused(operation, paths.appLog, 'is a symbolic link');
      // ENXIO: a FIFO without a reader (O_NONBLOCK keeps the open from waiting for one).
      if (errnoCode(err) === 'ENXIO') throw linkRefused(operation, paths.appLog, 'is not a regular file');
      throw fsError(operation, 'cannot open', paths.appLog, err);
    }
    try {
      const st = await file.stat();
      if (!st.isFile()) throw linkRefused(operation, paths.appLog, 'is not a regular file');
      if (st.nlink !== 1) throw linkRefused(operation, paths.appLog, `has ${st.nlink} hard links`);
      if (!owners.has(st.uid))
        throw linkRefused(operation, paths.appLog, `is owned by uid ${st.uid}, not by ${settings.loginUser}`);
      if (other !== undefined && created) await file.chown(other.uid, other.gid);
      return file;
    } catch (err) {
      await file.close();
      throw err;
    }
  } finally {
    await dir.close();
  }
}

/**
 * The server's small home: `home/log/app.log` (grown by the log loop) and a README, owned by the
 * login user so that a session can read and write it. Run as root for another user, the path
 * above it is traversable (0711) but not listable. Safe to run again over a home its user has
 * changed: nothing below the home is followed or given away by path (see `openAppLog`), and
 * the README is only written when missing.
 */
export async function prepareHome(
  operation: string,
  settings: LocalSettings,
  paths: ServerPaths,
  id: string,
): Promise<void> {
  await ensureDir(operation, paths.home, 0o755);
  const other = await otherLoginUser(operation, settings);
  if (other !== undefined) {
    try {
      await lchown(paths.home, other.uid, other.gid);
    } catch (err) {
      throw fsError(operation, `cannot give ${settings.loginUser}`, paths.home, err);
    }
  }
  // Written through its own descriptor (O_EXCL: never over anything there, link or not), given away by fchown.
  const readme = join(paths.home, 'README');
  let handle: FileHandle | undefined;
  try {
    handle = await open(
      readme,
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
      0o644,
    );
  } catch (err) {
    if (errnoCode(err) !== 'EEXIST') throw fsError(operation, 'cannot create', readme, err);
  }
  if (handle !== undefined) {
    try {
      await handle.writeFile(`Home of ${id}, a server of the cmq local cloud. log/ holds its log files.\n`);
      if (other !== undefined) await handle.chown(other.uid, other.gid);
    } catch (err) {
      throw fsError(operation, 'cannot write', readme, err);
    } finally {
      await handle.close();
    }
  }
  const log = await openAppLog(operation, settings, paths);
  await log.close();
}
