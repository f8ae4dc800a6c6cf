import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * Where the local cloud keeps things:
 *
 * ```
 * <stateDir>/addresses/127.0.X.Y        "<account>/<server id>": the address is taken (all accounts)
 * <stateDir>/<account>/tokens/<sha256>  the server id launched with that idempotency token
 * <stateDir>/<account>/locks/<id>       pid, start time and boot id of the call changing that server
 * <stateDir>/<account>/servers/<id>/    server.json, ssh_host_ed25519_key[.pub], sshd_config,
 *                                       authorized_keys, sshd.pid, sshd.log, log.pid,
 *                                       home/ (the login's $HOME) with home/log/app.log
 * ```
 */
export class Layout {
  constructor(
    readonly stateDir: string,
    readonly account: string,
  ) {}

  get addressesDir(): string {
    return join(this.stateDir, 'addresses');
  }

  get accountDir(): string {
    return join(this.stateDir, this.account);
  }

  get tokensDir(): string {
    return join(this.accountDir, 'tokens');
  }

  get locksDir(): string {
    return join(this.accountDir, 'locks');
  }

  get serversDir(): string {
    return join(this.accountDir, 'servers');
  }

  addressFile(address: string): string {
    return join(this.addressesDir, address);
  }

  /** The file of an idempotency token, by its hash (`tokenHash`). */
  tokenFile(hash: string): string {
    return join(this.tokensDir, hash);
  }

  lockFile(id: string): string {
    return join(this.locksDir, id);
  }

  server(id: string): ServerPaths {
    const dir = join(this.serversDir, id);
    const home = join(dir, 'home');
    return {
      dir,
      state: join(dir, 'server.json'),
      hostKey: join(dir, 'ssh_host_ed25519_key'),
      config: join(dir, 'sshd_config'),
      authorizedKeys: join(dir, 'authorized_keys'),
      sshdPid: join(dir, 'sshd.pid'),
      sshdLog: join(dir, 'sshd.log'),
      logPid: join(dir, 'log.pid'),
      home,
      logDir: join(home, 'log'),
      appLog: join(home, 'log', 'app.log'),
    };
  }
}

export interface ServerPaths {
  dir: string;
  state: string;
  hostKey: string;
  config: string;
  authorizedKeys: string;
  sshdPid: string;
  sshdLog: string;
  logPid: string;
  home: string;
  logDir: string;
  appLog: string;
}

/** Server ids: `local-` and 12 hex digits; anything else is unknown (and never becomes a path). */
export const SERVER_ID_RE = /^local-[0-9a-f]{12}$/;

export function tokenHash(clientToken: string): string {
  return createHash('sha256').update(clientToken, 'utf8').digest('hex');
}
