import { join } from 'node:path';
import { LOG_LEVELS } from '@cmq/common';
import { subscriberFile } from '@cmq/config';
import { type Command, InvalidArgumentError } from 'commander';
import { failure, usage } from '../command-error';
import { type Env, loadConfigFile } from '../config-set';
import { readLog } from '../log-follower';
import { type LineFilter, formatLogLine } from '../log-line';
import { withConfigDir } from '../options';
import { stopController } from '../live-view';

/** Tenant ids as intake accepts them: nothing that could name a path outside tenants/. */
const TENANT_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

interface LogsOpts {
  configDir?: string;
  follow?: boolean;
  since?: number;
  level?: LineFilter['level'];
}

function isoTime(value: string): number {
  const t = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(t))
    throw new InvalidArgumentError('must be an ISO 8601 time, e.g. 2024-05-01T12:00:00Z');
  return t;
}

function level(value: string): LineFilter['level'] {
  if (!(LOG_LEVELS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${LOG_LEVELS.join(', ')}`);
  return value as LineFilter['level'];
}

/** `<log.dir>/tenants/<tenant>.log`, log.dir from subscriber.properties (every process shares the tenant file). */
function tenantLogPath(tenant: string, opts: LogsOpts, env: Env): string {
  if (!TENANT_RE.test(tenant))
    throw usage(`"${tenant}" is not a tenant id (1-63 of a-z, 0-9, _ and -, starting with a letter or digit)`);
  const own = loadConfigFile(opts.configDir, env, subscriberFile());
  return join(own.log.dir, 'tenants', `${tenant}.log`);
}

async function logs(tenant: string, opts: LogsOpts, env: Env): Promise<void> {
  const path = tenantLogPath(tenant, opts, env);
  const filter: LineFilter = { since: opts.since, level: opts.level };
  const abort = stopController();
  const signal = abort.signal;
  const found = await readLog(path, opts.follow === true, signal, (line) => {
    const text = formatLogLine(line, filter);
    if (text !== undefined) process.stdout.write(`${text}\n`);
  });
  if (!found) throw failure(`no log for tenant ${tenant}: ${path} does not exist`);
}

/** `cmq logs TENANT`: the tenant's log file, human-readable, optionally followed across rotations. */
export function registerLogsCommand(program: Command, env: Env): void {
  withConfigDir(program.command('logs').argument('<tenant>', 'tenant id'))
    .description(
      "a tenant's log (<log.dir>/tenants/<tenant>.log): TIME LEVEL service/name [action] message key=value...",
    )
    .option('-f, --follow', 'keep printing lines as they are written, across logrotate (rename + HUP) and truncation')
    .option('--since <iso>', 'only lines at or after this time', isoTime)
    .option('--level <level>', `only lines at or above this level (${LOG_LEVELS.join(', ')})`, level)
    .action((tenant: string, opts: LogsOpts) => logs(tenant, opts, env));
}
