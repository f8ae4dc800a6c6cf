import {
  ACTION_DEFINITIONS,
  type Mode,
  type ActionRow,
  type DeadEntry,
  type Tenant,
  actionEvents,
  listActions,
  listDead,
  listTenants,
  parseRequest,
} from '@cmq/actions';
import { type Sql, effectiveEntries, loadFiles } from '@cmq/common';
import { type CliDb, cliActor } from '../cli-db';
import { refused } from '../command-error';
import { replayDeadAction } from '../commands/dead';
import { type Status, gatherStatus } from '../commands/status';
import { type Env, allFileSpecs, configDir } from '../config-set';
import { intakeKeyring } from '../intake-keyring';
import { loadMode } from '../provisioning';
import { insertOne } from '../submit-one';
import { mustGetAction, waitForFinal } from '../wait-final';

/** `call`'s third argument: the request's fields other than type and args (as in `cmq call --stdin`). */
export interface CallOptions {
  tenant?: string;
  idempotency_key?: string;
  countdown?: number;
  eta?: string;
  expires?: string;
  priority?: number;
  max_attempts?: number;
}

/** `actions()`'s filter, as `cmq actions` takes it. */
export interface ActionsFilter {
  tenant?: string;
  state?: string;
  type?: string;
  limit?: number;
}

/** What `cmq shell` puts in the REPL's global scope: `.help` lists it. */
export interface ShellApi {
  /** Every configuration file's effective values (file → key → value), secrets masked. */
  config: Record<string, Record<string, string>>;
  /** provisioning.cfg `mode`, which intake checks. */
  mode: Mode;
  /** The database handle (a pg pool): `await db.query('SELECT ...')`. */
  db: Sql;
  /** Every action type. */
  types: string[];
  call(type: string, args?: unknown, opts?: CallOptions): Promise<string>;
  result(id: string | number): Promise<ActionRow>;
  wait(id: string | number, timeoutSeconds?: number): Promise<ActionRow>;
  actions(filter?: ActionsFilter): Promise<ActionRow[]>;
  show(id: string | number): Promise<ActionRow & { events: unknown[] }>;
  dead(filter?: { tenant?: string; limit?: number }): Promise<DeadEntry[]>;
  replay(id: string | number): Promise<ActionRow>;
  status(): Promise<Status>;
  tenants(): Promise<Tenant[]>;
}

/** One line per function, for `.help`. */
export const SHELL_HELP: ReadonlyArray<[string, string]> = [
  ['call(type, args?, {tenant, max_attempts, ...})', 'submit an action (intake validation, as `cmq call`); its id'],
  ['result(id)', 'the action as it is now'],
  ['wait(id, timeoutSeconds = 60)', 'the action once it is final'],
  ['actions({tenant, state, type, limit})', 'actions, newest first (as `cmq actions`)'],
  ['show(id)', 'the action with its events (as `cmq actions show`)'],
  ['dead({tenant, limit})', 'dead actions and dead messages (as `cmq dead list`)'],
  ['replay(id)', 'a dead action back to pending, attempts reset (as `cmq dead replay`)'],
  ['status()', 'processes, families, tenants (as `cmq status --json`)'],
  ['tenants()', 'the tenants (as `cmq tenants list`)'],
  ['config, mode, db, types', 'the configuration (secrets masked), the mode, the database, the action types'],
];

/** The shell's functions over an open database, each through the same code as its `cmq` command. */
export function shellApi(dirOption: string | undefined, env: Env, cliDb: CliDb): ShellApi {
  const mode = loadMode(dirOption, env);
  const keyring = intakeKeyring(dirOption, env);
  const actor = cliActor(env, 'shell');
  const { sql } = cliDb;
  const id = (value: string | number): string => String(value);
  return {
    config: effectiveConfig(dirOption, env),
    mode,
    db: sql,
    types: ACTION_DEFINITIONS.map((d) => d.type),
    async call(type, args, opts = {}) {
      const checked = parseRequest({ ...opts, type, ...(args === undefined ? {} : { args }) });
      if (!checked.ok) throw refused(checked.error);
      return insertOne(cliDb, checked.request, actor, mode, keyring);
    },
    result: (value) => mustGetAction(sql, id(value)),
    wait: (value, timeoutSeconds = 60) => waitForFinal(sql, id(value), timeoutSeconds * 1000),
    actions: (f = {}) => listActions(sql, { tenant: f.tenant, state: f.state, type: f.type, limit: f.limit ?? 50 }),
    async show(value) {
      const row = await mustGetAction(sql, id(value));
      return { ...row, events: await actionEvents(sql, id(value)) };
    },
    dead: (f = {}) => listDead(sql, { tenant: f.tenant, limit: f.limit ?? 50 }),
    async replay(value) {
      await replayDeadAction(sql, id(value), actor);
      return mustGetAction(sql, id(value));
    },
    status: () => gatherStatus({ configDir: dirOption }, env),
    tenants: () => listTenants(sql),
  };
}

function effectiveConfig(dirOption: string | undefined, env: Env): Record<string, Record<string, string>> {
  const dir = configDir(dirOption, env);
  const files = loadFiles(dir, allFileSpecs(dir), env);
  return Object.fromEntries([...files].map(([name, file]) => [name, Object.fromEntries(effectiveEntries(file))]));
}
