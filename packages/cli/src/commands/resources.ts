import { type ResourceKind, listResources } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { failure } from '../command-error';
import { type Env } from '../config-set';
import { jsonLines } from '../format';
import { withConfigDir } from '../options';
import { accountId, resourceKind, resourcesTable } from './resources-format';

interface ResourcesOpts {
  configDir?: string;
  tenant: string;
  kind?: ResourceKind;
  account?: string;
  all?: boolean;
  json?: boolean;
}

/** An unknown tenant is the operator's mistake, said as such (exit 1), not an internal error. */
export function tenantFailure(err: unknown): never {
  if (err instanceof CmqError && err.code === 'CMQ_ERR_TENANT') throw failure(err.message);
  throw err;
}

/** `cmq resources --tenant T [--kind K] [--account A] [--all] [--json]`: the latest state synced from the provider. */
export function registerResourcesCommand(program: Command, env: Env): void {
  withConfigDir(
    program
      .command('resources')
      .description(
        "a tenant's cloud resources as the last sync saw them (sync.servers, sync.firewalls, sync.volumes, sync.budget)",
      ),
  )
    .requiredOption('--tenant <tenant>', 'tenant id')
    .option('--kind <kind>', 'server, firewall, volume or budget', resourceKind)
    .option('--account <id>', 'only this account', accountId)
    .option('--all', 'include resources that are gone')
    .option('--json', 'one JSON object per resource')
    .action(async (opts: ResourcesOpts) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) =>
        listResources(sql, { tenant: opts.tenant, kind: opts.kind, account: opts.account, all: opts.all === true }),
      ).catch(tenantFailure);
      if (opts.json === true) {
        process.stdout.write(jsonLines(rows));
        return;
      }
      process.stdout.write(
        rows.length === 0 ? `no resources synced for tenant ${opts.tenant}\n` : resourcesTable(rows, opts.all === true),
      );
    });
}
