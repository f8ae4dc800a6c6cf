import { CmqError } from '@cmq/common';
import { type Client, createClient, createSecureClient } from 'xmlrpc';
import { redactSecrets } from '../errors';

export interface CobblerClientOptions {
  /** Cobbler's XML-RPC URL, `http(s)://host/cobbler_api`. */
  endpoint: string;
  /** Empty with the shared secret as `password`: Cobbler's `<DIRECT>` login. */
  user: string;
  password: string;
  /** How long one call may take before it counts as unanswered (default 60 s). */
  timeoutMs?: number;
}

export type CobblerPowerOp = 'on' | 'off' | 'reboot' | 'status';

/** What cmq reads of a Cobbler system (`get_systems`). */
export interface CobblerSystem {
  name: string;
  profile: string;
  netboot_enabled: boolean;
  power_type: string;
  power_address: string;
}

/** An XML-RPC fault as the xmlrpc package reports it. */
interface FaultError extends Error {
  faultCode?: number;
  faultString?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;
/** A fault text that says Cobbler's own sync (or its lock) is taken: worth a retry. */
const BUSY_RE = /already running|in progress|locked|busy/i;

/** `<class 'cobbler.cexceptions.CX'>:'login failed (cmq)'` → `login failed (cmq)`. */
export function cobblerFaultText(faultString: string): string {
  const m = /^<class '[^']*'>:\s*(.*)$/s.exec(faultString);
  return (m?.[1] ?? faultString).replace(/^['"]|['"]$/g, '');
}

/** A string attribute; '' for a missing or non-string one. */
function text(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function asBool(v: unknown): boolean {
  return v === true || v === 1 || v === 'True' || v === 'true' || v === '1';
}

/**
 * A Cobbler server's XML-RPC API (`cobbler/remote.py`) through the `xmlrpc` package: one login
 * per client, refreshed once when Cobbler says the token expired. Every failure is a CmqError:
 * a refused login `CMQ_ERR_COBBLER_LOGIN` (permanent), a busy sync `CMQ_ERR_COBBLER_BUSY` and
 * no answer `CMQ_ERR_COBBLER_UNREACHABLE` (transient), any other fault `CMQ_ERR_COBBLER_FAULT`
 * (permanent) with Cobbler's text. The password never reaches a message.
 */
export class CobblerClient {
  private readonly client: Client;
  private token: string | undefined;

  constructor(private readonly opts: CobblerClientOptions) {
    const url = new URL(opts.endpoint);
    const make = url.protocol === 'https:' ? createSecureClient : createClient;
    this.client = make({ url: opts.endpoint, headers: { 'User-Agent': 'cmq-workers' } });
  }

  /** Cobbler's XML-RPC URL: what identifies the server (its syncs are serialised by it). */
  get endpoint(): string {
    return this.opts.endpoint;
  }

  /** The names and attributes of every system. */
  async listSystems(signal?: AbortSignal): Promise<CobblerSystem[]> {
    const raw = await this.call<Array<Record<string, unknown>>>('get_systems', [], signal);
    return raw.map((s) => ({
      name: text(s.name),
      profile: text(s.profile),
      netboot_enabled: asBool(s.netboot_enabled),
      power_type: text(s.power_type),
      power_address: text(s.power_address),
    }));
  }

  /** One system, or undefined when Cobbler has none of that name (it answers `~`). */
  async getSystem(name: string, signal?: AbortSignal): Promise<CobblerSystem | undefined> {
    const all = await this.listSystems(signal);
    return all.find((s) => s.name === name);
  }

  /** Assigns `profile`, sets netboot_enabled and saves the system (`modify_system`, `save_system`). */
  async assignProfile(name: string, profile: string, signal?: AbortSignal): Promise<void> {
    await this.withToken(async (token) => {
      const handle = await this.call<string>('get_system_handle', [name, token], signal);
      await this.call('modify_system', [handle, 'profile', profile, token], signal);
      await this.call('modify_system', [handle, 'netboot_enabled', true, token], signal);
      await this.call('save_system', [handle, token, 'bypass'], signal);
    });
  }

  /** Cobbler's `sync` (DHCP, DNS, PXE files): the caller makes sure only one runs per server. */
  async sync(signal?: AbortSignal): Promise<void> {
    await this.withToken((token) => this.call('sync', [token], signal, 'sync'));
  }

  /** `power_system`: for `status`, true when the system is on; for the others, undefined. */
  async power(name: string, op: CobblerPowerOp, signal?: AbortSignal): Promise<boolean | undefined> {
    return this.withToken(async (token) => {
      const handle = await this.call<string>('get_system_handle', [name, token], signal);
      const answer = await this.call<unknown>('power_system', [handle, op, token], signal);
      return op === 'status' ? asBool(answer) : undefined;
    });
  }

  /** Runs `fn` with a token, logging in first; once more after a fresh login when the token expired. */
  private async withToken<T>(fn: (token: string) => Promise<T>): Promise<T> {
    const first = this.token ?? (await this.login());
    try {
      return await fn(first);
    } catch (err) {
      if (!(err instanceof CmqError) || !/invalid token|token.*expired/i.test(err.message)) throw err;
      this.token = undefined;
      return fn(await this.login());
    }
  }

  private async login(): Promise<string> {
    this.token = await this.call<string>('login', [this.opts.user, this.opts.password], undefined, 'login');
    return this.token;
  }

  private call<T = unknown>(
    method: string,
    params: unknown[],
    signal?: AbortSignal,
    role?: 'login' | 'sync',
  ): Promise<T> {
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    return new Promise<T>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(this.unreachable(method, 'aborted before the call'));
        return;
      }
      const onAbort = (): void =>
        finish(this.unreachable(method, 'aborted (the action timed out or the process is stopping)'));
      const timer = setTimeout(() => finish(this.unreachable(method, `no answer within ${timeoutMs} ms`)), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      const finish = (err: Error | undefined, value?: unknown): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (err !== undefined) reject(err);
        else resolve(value as T);
      };
      this.client.methodCall(method, params, (err: object | null, value: unknown) => {
        // The package types the error as Object: an Error, with faultCode/faultString for a fault.
        if (err === null || err === undefined) finish(undefined, value);
        else finish(this.classify(method, err as FaultError, role));
      });
    });
  }

  private classify(method: string, err: FaultError, role?: 'login' | 'sync'): CmqError {
    if (err.faultString === undefined) return this.unreachable(method, err.message);
    const text = redactSecrets(cobblerFaultText(err.faultString), [this.opts.password]);
    const where = `cobbler ${this.host()} ${method}`;
    if (role === 'login' || /login failed/i.test(text))
      return new CmqError(
        'CMQ_ERR_COBBLER_LOGIN',
        `${where}: ${text}: the account's user and password (or shared secret) were refused; fix them (cmq accounts add), it is not retried`,
      );
    if (role === 'sync' && BUSY_RE.test(text))
      return new CmqError('CMQ_ERR_COBBLER_BUSY', `${where}: ${text} (retried later)`, { transient: true });
    return new CmqError('CMQ_ERR_COBBLER_FAULT', `${where}: ${text}`);
  }

  private unreachable(method: string, why: string): CmqError {
    const text = redactSecrets(why, [this.opts.password]);
    return new CmqError('CMQ_ERR_COBBLER_UNREACHABLE', `cobbler ${this.host()} ${method}: ${text}`, {
      transient: true,
    });
  }

  private host(): string {
    return new URL(this.opts.endpoint).host;
  }
}
