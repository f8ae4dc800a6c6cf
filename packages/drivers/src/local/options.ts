import { userInfo } from 'node:os';
import { isAbsolute } from 'node:path';
import { localError } from './local-errors';

/** What the subscriber passes to `new LocalDriver(...)` for one cloud account of provider `local`. */
export interface LocalDriverOptions {
  /**
   * The local cloud's own state (host keys, sshd configs, homes, pid files, the address and
   * token indexes); never cmq's database. Every account of the machine should share one, so that
   * loopback addresses are unique. An absolute path without whitespace, quotes or `%`.
   */
  stateDir: string;
  /** The cmq account id; its servers live under `<stateDir>/<account>/`. */
  account: string;
  /** The account's OpenSSH public key line (`ssh-ed25519 AAAA... comment`): every server admits it. */
  authorizedKey: string;
  /** The port every server's sshd listens on, each on its own address (default 2222). */
  sshPort?: number;
  /** Default `/usr/sbin/sshd` (Debian package openssh-server). */
  sshdPath?: string;
  /**
   * The account a server admits (default: the user running this process). A non-root process can
   * only serve its own user (OpenSSH runs unprivileged then and authenticates only itself); a root
   * process may name another user, who then owns the server's home. The user needs a login shell
   * (not nologin/false: sshd runs every command with it); a launch refuses one without. When
   * given, a POSIX user name (`^[a-z_][a-z0-9_-]{0,31}$`). Root (uid 0) serves only when named
   * here explicitly (`'root'`): a root process left at the default would hand tenants root shells.
   */
  loginUser?: string;
  /** How long a terminated server stays listed as `terminated` before it is forgotten (default 1 h). */
  forgetAfterMs?: number;
  /** How long a launch or reboot waits for sshd to answer (default 10 s). */
  startTimeoutMs?: number;
  /**
   * After how many lines (one a second) the server's log writer renames `log/app.log` to
   * `log/app.log.1` (replacing the previous one) and starts a new file, as logrotate would
   * (default 20,000: about 1.2 MB and 5.5 hours). Counted from the writer's start, so a reboot
   * starts the count again.
   */
  appLogRotateLines?: number;
}

/** The options with every default filled in, checked. */
export interface LocalSettings {
  stateDir: string;
  account: string;
  authorizedKey: string;
  sshPort: number;
  sshdPath: string;
  loginUser: string;
  /** Whether `loginUser: 'root'` was named explicitly: the only way uid 0 is admitted (see checkLoginUser). */
  rootNamed: boolean;
  forgetAfterMs: number;
  startTimeoutMs: number;
  appLogRotateLines: number;
}

const ACCOUNT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const PUBLIC_KEY_RE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
const SAFE_PATH_RE = /^[^\s"'%\\]+$/;
/** A login user named in the options (it goes into sshd_config `AllowUsers` and `getent passwd`). */
const POSIX_USER_RE = /^[a-z_][a-z0-9_-]{0,31}$/;
/** The default, this process's own user: any name the system has, short of sshd pattern characters. */
const OWN_USER_RE = /^[a-z_][a-z0-9_.-]{0,31}\$?$/i;
/** Names at the top of the state dir that are not accounts. */
const RESERVED = new Set(['addresses']);

function invalid(message: string): never {
  throw localError('permanent', 'configure', message, 'InvalidParameterValue');
}

/** Fills in the defaults and refuses what would break a path or an sshd_config line. */
export function localSettings(opts: LocalDriverOptions): LocalSettings {
  if (!isAbsolute(opts.stateDir) || !SAFE_PATH_RE.test(opts.stateDir))
    invalid(`stateDir "${opts.stateDir}": an absolute path without whitespace, quotes, backslashes or %`);
  if (!ACCOUNT_RE.test(opts.account) || RESERVED.has(opts.account))
    invalid(`account "${opts.account}": 1-64 of A-Z a-z 0-9 _ . - (not "addresses")`);
  const authorizedKey = opts.authorizedKey.trim();
  if (!PUBLIC_KEY_RE.test(authorizedKey))
    invalid('authorizedKey: one OpenSSH public key line (ssh-ed25519 AAAA... [comment])');
  const sshPort = opts.sshPort ?? 2222;
  if (!Number.isInteger(sshPort) || sshPort < 1 || sshPort > 65535) invalid(`sshPort ${sshPort}: 1-65535`);
  const sshdPath = opts.sshdPath ?? '/usr/sbin/sshd';
  // sshd re-executes itself for every connection: it insists on an absolute path.
  if (!isAbsolute(sshdPath) || !SAFE_PATH_RE.test(sshdPath)) invalid(`sshdPath "${sshdPath}": an absolute path`);
  if (opts.loginUser !== undefined && !POSIX_USER_RE.test(opts.loginUser))
    invalid(`loginUser "${opts.loginUser}": a POSIX user name (a-z or _, then up to 31 of a-z 0-9 _ -)`);
  const appLogRotateLines = opts.appLogRotateLines ?? 20_000;
  if (!Number.isSafeInteger(appLogRotateLines) || appLogRotateLines < 1)
    invalid(`appLogRotateLines ${appLogRotateLines}: a whole number of lines, at least 1`);
  const loginUser = opts.loginUser ?? userInfo().username;
  if (!OWN_USER_RE.test(loginUser)) invalid(`loginUser "${loginUser}": a user name`);
  return {
    stateDir: opts.stateDir,
    account: opts.account,
    authorizedKey,
    sshPort,
    sshdPath,
    loginUser,
    rootNamed: opts.loginUser === 'root',
    forgetAfterMs: opts.forgetAfterMs ?? 3_600_000,
    startTimeoutMs: opts.startTimeoutMs ?? 10_000,
    appLogRotateLines,
  };
}
