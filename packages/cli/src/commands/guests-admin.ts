import { removeGuest, setGuestActive } from '@cmq/actions';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { failure } from '../command-error';
import type { Env } from '../config-set';
import { withConfigDir } from '../options';
import { auditHostAct } from './host-audit';

interface GuestOpts {
  configDir?: string;
  tenant: string;
}

async function toggle(id: string, active: boolean, opts: GuestOpts, env: Env): Promise<void> {
  const verb = active ? 'activate' : 'deactivate';
  const changed = await withDatabase(opts.configDir, env, async ({ sql }) => {
    const result = await setGuestActive(sql, opts.tenant, id, active);
    if (result === undefined)
      throw failure(`tenant "${opts.tenant}" has no guest "${id}" (cmq guests list --tenant ${opts.tenant})`);
    await auditHostAct(sql, env, {
      action: `guest.${verb}`,
      target: id,
      tenant: opts.tenant,
      detail: { changed: result },
    });
    return result;
  });
  process.stdout.write(`${changed ? `${verb}d` : `already ${verb}d:`} guest ${id} of tenant ${opts.tenant}\n`);
}

async function remove(id: string, opts: GuestOpts, env: Env): Promise<void> {
  await withDatabase(opts.configDir, env, async ({ sql }) => {
    const result = await removeGuest(sql, opts.tenant, id);
    if (!result.ok) throw failure(result.error);
    await auditHostAct(sql, env, { action: 'guest.remove', target: id, tenant: opts.tenant });
  });
  process.stdout.write(`removed guest ${id} of tenant ${opts.tenant}\n`);
}

/** `cmq guests activate|deactivate|remove ID --tenant T`: a guest's active flag, or forgetting it; audited. */
export function registerGuestAdmin(guests: Command, env: Env): void {
  for (const active of [false, true]) {
    const verb = active ? 'activate' : 'deactivate';
    withConfigDir(
      guests
        .command(verb)
        .argument('<id>', 'guest id within the tenant')
        .description(
          active
            ? 'make a guest active again: guest.* actions reach it and its logs are collected on schedule'
            : 'make a guest inactive: guest.* actions naming it end dead without connecting, and the publisher schedules no log collection for it',
        ),
    )
      .requiredOption('--tenant <tenant>', 'tenant id')
      .action((id: string, opts: GuestOpts) => toggle(id, active, opts, env));
  }

  withConfigDir(
    guests
      .command('remove')
      .argument('<id>', 'guest id within the tenant')
      .description(
        "forget an inactive guest: its key, pinned host key and log offsets (a launched server's guest goes with its server instead)",
      ),
  )
    .requiredOption('--tenant <tenant>', 'tenant id')
    .action((id: string, opts: GuestOpts) => remove(id, opts, env));
}
