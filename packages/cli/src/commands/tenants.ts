import { TENANT_ID_RE, addTenant, listTenants, setTenantEnabled } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Command } from 'commander';
import { type Env } from '../config-set';
import { CommandFailed, Exit } from '../command-error';
import { withDatabase } from '../cli-db';
import { jsonLines, table, time } from '../format';
import { withConfigDir } from '../options';

interface ConfigOpts {
  configDir?: string;
}

function registerToggle(tenants: Command, env: Env, verb: 'enable' | 'disable'): void {
  const help =
    verb === 'disable'
      ? 'disable a tenant: its new actions are refused, and its queued ones end rejected'
      : 'enable a tenant again';
  withConfigDir(tenants.command(verb).argument('<id>', 'tenant id').description(help)).action(
    async (id: string, opts: ConfigOpts) => {
      const changed = await withDatabase(opts.configDir, env, async ({ sql }) => {
        try {
          return await setTenantEnabled(sql, id, verb === 'enable');
        } catch (err) {
          if (err instanceof CmqError && err.code === 'CMQ_ERR_TENANT')
            throw new CommandFailed(err.message, Exit.FAILURE);
          throw err;
        }
      });
      process.stdout.write(`${changed ? `${verb}d` : `already ${verb}d:`} tenant ${id}\n`);
    },
  );
}

/** `cmq tenants add|list|disable|enable`: the customers whose actions cmq-workers runs. */
export function registerTenantCommands(program: Command, env: Env): void {
  const tenants = program
    .command('tenants')
    .description('add, list, disable and enable tenants (actions for an unknown or disabled tenant are refused)');

  withConfigDir(
    tenants.command('add').argument('<id>', 'tenant id: 1-63 of a-z, 0-9, _ and -').description('add a tenant'),
  )
    .requiredOption('--name <name>', 'display name')
    .action(async (id: string, opts: ConfigOpts & { name: string }) => {
      await withDatabase(opts.configDir, env, async ({ sql }) => {
        try {
          await addTenant(sql, id, opts.name);
        } catch (err) {
          if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_TENANT') throw err;
          // A malformed id is a bad request (2); a taken one is a plain failure (1).
          throw new CommandFailed(err.message, TENANT_ID_RE.test(id) ? Exit.FAILURE : Exit.REFUSED);
        }
      });
      process.stdout.write(`added tenant ${id}\n`);
    });

  withConfigDir(tenants.command('list').description('list tenants'))
    .option('--json', 'one JSON object per line')
    .action(async (opts: ConfigOpts & { json?: boolean }) => {
      const rows = await withDatabase(opts.configDir, env, ({ sql }) => listTenants(sql));
      if (opts.json === true) process.stdout.write(jsonLines(rows));
      else
        process.stdout.write(
          table(
            ['ID', 'NAME', 'ENABLED', 'CREATED'],
            rows.map((r) => [r.id, r.name, r.enabled ? 'yes' : 'no', time(r.created_at)]),
          ),
        );
    });

  registerToggle(tenants, env, 'disable');
  registerToggle(tenants, env, 'enable');
}
