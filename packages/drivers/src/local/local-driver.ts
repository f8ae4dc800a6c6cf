import { randomBytes } from 'node:crypto';
import { type FileHandle, readdir } from 'node:fs/promises';
import {
  CLIENT_TOKEN_RE,
  CLIENT_TOKEN_RULE,
  type CallOptions,
  type Driver,
  type Firewall,
  type FirewallRule,
  type LaunchRequest,
  type Server,
  type Volume,
} from '../driver';
import { releaseAddress } from './addresses';
import { boot, halt } from './boot';
import { createExclusive, ensureDir, readIfExists, remove } from './files';
import { checkHomeReachable, checkLoginUser, openAppLog, prepareHome, removeServerDir } from './home';
import { Layout, SERVER_ID_RE, type ServerPaths, tokenHash } from './layout';
import { DriverError } from '../errors';
import { LOCAL_NOT_FOUND, checkAborted, fsError, localError } from './local-errors';
import { withLock } from './lock';
import { type LocalDriverOptions, type LocalSettings, localSettings } from './options';
import { type ServerRecord, readRecord, toServer, writeRecord } from './server-record';
import { checkSshd, ensureHostKey, hostKeyFingerprint } from './sshd';

/**
 * The `local` cloud: the embedded default, so that the whole product runs on one machine. A
 * server is a real OpenSSH server on a loopback address of its own (127.0.X.Y, never 127.0.0.1)
 * with its own ed25519 host key, admitting the account's public key for `loginUser`, with a small
 * home whose `log/app.log` grows every second. Its processes are detached: they outlive the
 * subscriber that launched them. All state lives in `stateDir` (see `Layout`), none in cmq's
 * database; several processes may drive the same state dir at once (exclusive files and locks).
 *
 * sshd runs as the user running this process. As root it may admit another user (`loginUser`);
 * as any other user OpenSSH runs unprivileged and admits only that user, which also works. The
 * login user needs a real login shell (sshd runs commands with it). A server's commands run as
 * that user and can read whatever it can read: the local cloud is one trust domain (development,
 * demos, CI, the platform's own use), not an isolation boundary between tenants. Serving another
 * user as root, nothing inside a server's home (that user's) is followed or given away by path,
 * its log writer runs as that user (who must be able to traverse the state dir: checked at launch
 * and reboot), and forgetting the server empties the home with that user's rights. Root itself is
 * a login user only when named (`loginUser: 'root'`), never by default.
 */
export class LocalDriver implements Driver {
  readonly provider = 'local';
  private readonly settings: LocalSettings;
  private readonly layout: Layout;

  constructor(opts: LocalDriverOptions) {
    this.settings = localSettings(opts);
    this.layout = new Layout(this.settings.stateDir, this.settings.account);
  }

  async listServers(opts?: CallOptions): Promise<Server[]> {
    checkAborted('listServers', opts?.signal);
    const servers: Server[] = [];
    for (const id of await this.serverIds('listServers')) {
      const paths = this.layout.server(id);
      const record = await readRecord('listServers', paths);
      // No record yet: a launch is under way (or was interrupted, and its redelivery completes it).
      if (record === undefined) continue;
      if (this.expired(record)) {
        try {
          await this.forget('listServers', record);
          continue;
        } catch (err) {
          // Not forgotten this time (its home could not be emptied, a lock is held): still listed
          // as terminated, and the next listing tries again; a sync must not fail for it.
          if (!(err instanceof DriverError)) throw err;
        }
      }
      servers.push(toServer(record, paths));
    }
    return servers;
  }

  async getServer(id: string, opts?: CallOptions): Promise<Server | undefined> {
    checkAborted('getServer', opts?.signal);
    if (!SERVER_ID_RE.test(id)) return undefined;
    const paths = this.layout.server(id);
    const record = await readRecord('getServer', paths);
    return record === undefined || this.expired(record) ? undefined : toServer(record, paths);
  }

  /**
   * Idempotent by `clientToken`: the token's file (created exclusively) names the one server id
   * every launch with that token completes and returns, however many run, at once or after a
   * crash. A token whose server was terminated returns the terminated server.
   */
  async launchServer(req: LaunchRequest, opts?: CallOptions): Promise<Server> {
    const op = 'launchServer';
    checkAborted(op, opts?.signal);
    if (!CLIENT_TOKEN_RE.test(req.clientToken))
      throw localError('permanent', op, CLIENT_TOKEN_RULE, 'InvalidParameterValue');
    await checkSshd(op, this.settings.sshdPath);
    const tokenFile = this.layout.tokenFile(tokenHash(req.clientToken));
    // A fresh token launches with the current settings: refused before anything is made. A known
    // one completes its server with the user it was launched with (checked in complete).
    if ((await readIfExists(op, tokenFile)) === undefined) await checkLoginUser(op, this.settings);
    for (const dir of [this.layout.accountDir, this.layout.tokensDir, this.layout.locksDir, this.layout.serversDir])
      await ensureDir(op, dir);
    const fresh = `local-${randomBytes(6).toString('hex')}`;
    const id = (await createExclusive(op, tokenFile, `${fresh}\n`))
      ? fresh
      : ((await readIfExists(op, tokenFile))?.trim() ?? '');
    if (!SERVER_ID_RE.test(id)) throw localError('transient', op, `${tokenFile}: does not name a server id`);
    return this.locked(op, id, () => this.complete(id, req, opts?.signal));
  }

  async terminateServer(id: string, opts?: CallOptions): Promise<void> {
    const op = 'terminateServer';
    checkAborted(op, opts?.signal);
    await this.locked(op, id, async () => {
      const { record, paths } = await this.known(op, id);
      if (record.state !== 'terminated') {
        await halt(op, record, paths);
        record.state = 'terminated';
        record.terminatedAt = new Date().toISOString();
        record.pids = {};
        await writeRecord(op, paths, record);
      }
      // Also when already terminated: a call that crashed between the record and this kept the address.
      await this.releaseAddressOf(op, record);
    });
  }

  /** Stops and restarts the server's processes; its address and host key stay the same. */
  async rebootServer(id: string, opts?: CallOptions): Promise<void> {
    const op = 'rebootServer';
    checkAborted(op, opts?.signal);
    await checkSshd(op, this.settings.sshdPath);
    await this.locked(op, id, async () => {
      const { record, paths } = await this.known(op, id);
      if (record.state === 'terminated')
        throw localError('permanent', op, `${id} is terminated`, 'IncorrectInstanceState');
      const settings = this.settingsOf(record);
      await checkLoginUser(op, settings);
      await checkHomeReachable(op, settings, paths);
      // Opened (safely: see openAppLog) before anything stops, so that a refused log leaves the server running.
      const log = await openAppLog(op, settings, paths);
      try {
        await halt(op, record, paths);
        await appendLine(op, log, paths, `${new Date().toISOString()} ${id} reboot`);
      } finally {
        await log.close();
      }
      await boot(record, { operation: op, settings, layout: this.layout, paths, mayMove: false, signal: opts?.signal });
    });
  }

  /**
   * What the local cloud admits: SSH from loopback only (it cannot be reached from elsewhere), on
   * the port new servers get and on each server's own (one launched before ssh_port changed keeps its).
   */
  async listFirewalls(opts?: CallOptions): Promise<Firewall[]> {
    const servers = await this.listServers(opts);
    const ports = [
      ...new Set([
        this.settings.sshPort,
        ...servers.filter((s) => s.state !== 'terminated').map((s) => s.sshPort ?? this.settings.sshPort),
      ]),
    ].sort((a, b) => a - b);
    return [
      {
        id: 'fw-local',
        name: 'local loopback',
        rules: [
          ...ports.map((port): FirewallRule => ({
            direction: 'ingress',
            protocol: 'tcp',
            fromPort: port,
            toPort: port,
            sources: ['127.0.0.0/8'],
          })),
          { direction: 'egress', protocol: 'all', sources: ['0.0.0.0/0'] },
        ],
      },
    ];
  }

  /** One nominal 1 GB volume per server that is not terminated: its home. */
  async listVolumes(opts?: CallOptions): Promise<Volume[]> {
    const servers = await this.listServers(opts);
    return servers
      .filter((s) => s.state !== 'terminated')
      .map((s) => ({ id: `vol-${s.id}`, size_gb: 1, state: 'in-use', attachedTo: s.id }));
  }

  private async complete(id: string, req: LaunchRequest, signal: AbortSignal | undefined): Promise<Server> {
    const op = 'launchServer';
    const paths = this.layout.server(id);
    const existing = await readRecord(op, paths);
    if (existing?.state === 'terminated') return toServer(existing, paths);
    await ensureDir(op, paths.dir);
    const record: ServerRecord = existing ?? {
      id,
      name: req.name,
      image: req.image,
      size: req.size,
      tokenHash: tokenHash(req.clientToken),
      port: this.settings.sshPort,
      loginUser: this.settings.loginUser,
      state: 'pending',
      launchedAt: new Date().toISOString(),
      pids: {},
      home: paths.home,
      logPaths: [paths.appLog],
    };
    const settings = this.settingsOf(record);
    // The record's user (a redelivered launch keeps the user it began with), checked before anything starts.
    await checkLoginUser(op, settings);
    await checkHomeReachable(op, settings, paths);
    await prepareHome(op, settings, paths, id);
    await ensureHostKey(op, paths);
    record.hostKeyFingerprint = await hostKeyFingerprint(op, paths);
    await writeRecord(op, paths, record);
    checkAborted(op, signal);
    await boot(record, { operation: op, settings, layout: this.layout, paths, mayMove: true, signal });
    return toServer(record, paths);
  }

  private async locked<T>(operation: string, id: string, fn: () => Promise<T>): Promise<T> {
    if (!SERVER_ID_RE.test(id)) throw notFound(operation, id);
    await ensureDir(operation, this.layout.locksDir);
    return withLock(operation, this.layout.lockFile(id), Math.max(30_000, 3 * this.settings.startTimeoutMs), fn);
  }

  private async known(operation: string, id: string): Promise<{ record: ServerRecord; paths: ServerPaths }> {
    const paths = this.layout.server(id);
    const record = await readRecord(operation, paths);
    if (record === undefined || this.expired(record)) throw notFound(operation, id);
    return { record, paths };
  }

  private expired(record: ServerRecord): boolean {
    return (
      record.state === 'terminated' &&
      Date.now() - Date.parse(record.terminatedAt ?? record.launchedAt) > this.settings.forgetAfterMs
    );
  }

  /**
   * Removes a long-terminated server: its token first (a later launch with it starts afresh), then
   * its directory (whatever of it still runs ended first; a home of another user emptied with that
   * user's rights, see removeServerDir).
   */
  private async forget(operation: string, record: ServerRecord): Promise<void> {
    await this.locked(operation, record.id, async () => {
      const paths = this.layout.server(record.id);
      const tokenFile = this.layout.tokenFile(record.tokenHash);
      if ((await readIfExists(operation, tokenFile))?.trim() === record.id) await remove(operation, tokenFile);
      // Normally released by terminate already; not when that crashed before releasing it.
      await this.releaseAddressOf(operation, record);
      await halt(operation, record, paths);
      await removeServerDir(operation, paths);
    });
  }

  /**
   * The settings a server keeps for its life: the login user and port it was launched with, even
   * when cloud.local.login_user or ssh_port changed since (its guest was registered with them).
   */
  private settingsOf(record: ServerRecord): LocalSettings {
    return { ...this.settings, loginUser: record.loginUser, sshPort: record.port };
  }

  /** Gives the server's address back, if the address file still names this server. */
  private async releaseAddressOf(operation: string, record: ServerRecord): Promise<void> {
    if (record.address !== undefined)
      await releaseAddress(operation, this.layout, record.address, `${this.settings.account}/${record.id}`);
  }

  private async serverIds(operation: string): Promise<string[]> {
    try {
      return (await readdir(this.layout.serversDir)).filter((n) => SERVER_ID_RE.test(n)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(operation, 'cannot list', this.layout.serversDir, err);
    }
  }
}

function notFound(operation: string, id: string): Error {
  return localError('permanent', operation, `The instance ID '${id}' does not exist`, LOCAL_NOT_FOUND);
}

/** Appends in place (never replaces the file: log collection follows its inode). */
async function appendLine(operation: string, log: FileHandle, paths: ServerPaths, line: string): Promise<void> {
  try {
    await log.appendFile(`${line}\n`);
  } catch (err) {
    throw fsError(operation, 'cannot append to', paths.appLog, err);
  }
}
