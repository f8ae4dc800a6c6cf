import type { AddressInfo } from 'node:net';
import { type Server, createServer } from 'xmlrpc';

/**
 * A fake Cobbler XML-RPC server: Cobbler cannot run here (no Debian package, it needs its own
 * Python stack and root-owned state), so the tests speak to this stand-in, written from the API
 * in the research notes (`cobbler/remote.py` v3.3.7): login, get_systems, get_system_handle,
 * modify_system, save_system, sync, power_system. Faults are marshalled as Cobbler's
 * SimpleXMLRPCServer does: code 1, `<class 'cobbler.cexceptions.CX'>:'<text>'`.
 */

export interface FakeSystem {
  name: string;
  profile: string;
  netboot_enabled: boolean;
  power_type: string;
  power_address: string;
  power: 'on' | 'off';
}

export interface FakeCall {
  method: string;
  /** Parameters with every password and token replaced by "*". */
  params: unknown[];
  at: number;
}

type Callback = (error: unknown, value?: unknown) => void;

/** Cobbler's CX exception, as its handlers raise it. */
class Cx extends Error {}

function cx(text: string): Cx {
  return new Cx(text);
}

/** The fault SimpleXMLRPCServer marshals for an exception. */
function fault(err: unknown): { faultCode: number; faultString: string } {
  const text = err instanceof Error ? err.message : String(err);
  const cls = err instanceof Cx ? 'cobbler.cexceptions.CX' : 'Exception';
  return { faultCode: 1, faultString: `<class '${cls}'>:'${text}'` };
}

export class FakeCobbler {
  readonly systems = new Map<string, FakeSystem>();
  readonly profiles = new Set<string>(['debian12', 'rocky9']);
  readonly calls: FakeCall[] = [];
  /** Every sync's start and end (ms): two of them must never overlap. */
  readonly syncs: Array<{ start: number; end: number }> = [];
  /** How long a sync takes. */
  syncMs = 300;
  /** While set, a sync waits for it (a test holds Cobbler in its sync to kill the caller). */
  syncGate: Promise<void> | undefined;
  /** While set, a reboot is done but its answer waits for it (the caller killed before it hears back). */
  rebootAnswerGate: Promise<void> | undefined;
  private readonly users = new Map<string, string>();
  private readonly tokens = new Set<string>();
  private readonly edits = new Map<string, Partial<FakeSystem>>();
  private server: Server | undefined;
  private port = 0;

  constructor(users: Record<string, string>, systems: string[]) {
    for (const [u, p] of Object.entries(users)) this.users.set(u, p);
    for (const name of systems)
      this.systems.set(name, {
        name,
        profile: 'rocky9',
        netboot_enabled: false,
        power_type: 'ipmilanplus',
        power_address: `bmc-${name}`,
        power: 'on',
      });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}/cobbler_api`;
  }

  countCalls(method: string, filter: (params: unknown[]) => boolean = () => true): number {
    return this.calls.filter((c) => c.method === method && filter(c.params)).length;
  }

  async start(): Promise<this> {
    const server = createServer({ host: '127.0.0.1', port: 0 });
    this.server = server;
    await new Promise<void>((resolve) => server.httpServer.once('listening', () => resolve()));
    this.port = (server.httpServer.address() as AddressInfo).port;
    const on = (method: string, fn: (params: unknown[]) => unknown): void => {
      server.on(method, (_err: unknown, params: unknown[], callback: Callback) => {
        this.calls.push({ method, params: this.masked(method, params), at: Date.now() });
        Promise.resolve()
          .then(() => fn(params))
          .then(
            (value) => callback(null, value),
            (err: unknown) => callback(fault(err)),
          );
      });
    };
    on('login', ([user, password]) => {
      if (typeof user !== 'string' || this.users.get(user) !== password) throw cx(`login failed (${String(user)})`);
      const token = `tok-${this.tokens.size + 1}`;
      this.tokens.add(token);
      return token;
    });
    on('get_systems', () => [...this.systems.values()].map(({ power: _power, ...s }) => s));
    on('get_system_handle', ([name, token]) => {
      this.checkToken(token);
      if (typeof name !== 'string' || !this.systems.has(name))
        throw cx(`internal error, unknown system name ${String(name)}`);
      return `system::${name}`;
    });
    on('modify_system', ([handle, attr, value, token]) => {
      this.checkToken(token);
      const edit = this.edits.get(String(handle)) ?? {};
      if (attr === 'profile') {
        if (!this.profiles.has(String(value))) throw cx(`invalid profile name: ${String(value)}`);
        edit.profile = String(value);
      } else if (attr === 'netboot_enabled') edit.netboot_enabled = value === true;
      this.edits.set(String(handle), edit);
      return true;
    });
    on('save_system', ([handle, token]) => {
      this.checkToken(token);
      const sys = this.systems.get(String(handle).replace(/^system::/, ''));
      if (sys === undefined) throw cx(`internal error, unknown system handle ${String(handle)}`);
      Object.assign(sys, this.edits.get(String(handle)) ?? {});
      this.edits.delete(String(handle));
      return true;
    });
    on('sync', async ([token]) => {
      this.checkToken(token);
      const start = Date.now();
      await this.syncGate;
      await new Promise((resolve) => setTimeout(resolve, this.syncMs));
      this.syncs.push({ start, end: Date.now() });
      return true;
    });
    on('power_system', async ([handle, op, token]) => {
      this.checkToken(token);
      const sys = this.systems.get(String(handle).replace(/^system::/, ''));
      if (sys === undefined) throw cx(`internal error, unknown system handle ${String(handle)}`);
      if (op === 'status') return sys.power === 'on';
      if (op === 'on' || op === 'reboot') sys.power = 'on';
      else if (op === 'off') sys.power = 'off';
      else throw cx(`invalid power operation '${String(op)}', expected on/off/status/reboot`);
      if (op === 'reboot') await this.rebootAnswerGate;
      return true;
    });
    return this;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    server.httpServer.closeAllConnections();
    await new Promise<void>((resolve) => server.httpServer.close(() => resolve()));
  }

  private checkToken(token: unknown): void {
    if (typeof token !== 'string' || !this.tokens.has(token)) throw cx('invalid token: ' + String(token));
  }

  private masked(method: string, params: unknown[]): unknown[] {
    if (method === 'login') return [params[0], '*'];
    return params.map((p) => (typeof p === 'string' && this.tokens.has(p) ? '*' : p));
  }
}
