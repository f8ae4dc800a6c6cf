import { type NodeChanges, PLATFORM_TENANT, nodeProblems, setNodeActive, updateNode } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { CommandFailed, Exit, failure, refused } from '../command-error';
import type { Env } from '../config-set';
import { positiveInt, withConfigDir } from '../options';
import { sealKeyFile } from './guests';
import { auditHostAct } from './host-audit';

interface SetOpts {
  configDir?: string;
  startCmd?: string;
  stopCmd?: string;
  statusCmd?: string;
  address?: string;
  port?: number;
  user?: string;
  keyFile?: string;
  hostKey?: string;
}

/** The options `cmq nodes set` names in its errors, by nodeProblems' field. */
const OPTION_OF: Readonly<Record<string, string>> = {
  address: '--address',
  port: '--port',
  user: '--user',
  hostKey: '--host-key',
  startCmd: '--start-cmd',
  stopCmd: '--stop-cmd',
  statusCmd: '--status-cmd',
};

async function set(name: string, opts: SetOpts, env: Env): Promise<void> {
  const changes: NodeChanges = {
    address: opts.address,
    port: opts.port,
    user: opts.user,
    hostKey: opts.hostKey,
    startCmd: opts.startCmd,
    stopCmd: opts.stopCmd,
    statusCmd: opts.statusCmd,
  };
  const [field, problem] = Object.entries(nodeProblems(changes))[0] ?? [];
  // The option stands for the field's own label ("address: ..." becomes "--address: ...").
  if (field !== undefined) throw refused(`${OPTION_OF[field] ?? field}: ${(problem ?? '').replace(/^[^:]+: /, '')}`);
  if (Object.values(changes).every((v) => v === undefined) && opts.keyFile === undefined)
    throw refused(`nothing to change: give at least one of ${Object.values(OPTION_OF).join(', ')}, --key-file`);
  if (opts.keyFile !== undefined) changes.encryptedKey = sealKeyFile(opts.configDir, env, opts.keyFile);
  const columns = await withDatabase(opts.configDir, env, async ({ sql }) => {
    let changed: string[] | undefined;
    try {
      changed = await updateNode(sql, name, changes);
    } catch (err) {
      if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_NODE') throw err;
      throw new CommandFailed(err.message, Exit.REFUSED);
    }
    if (changed === undefined) throw failure(`no node "${name}" (cmq nodes list)`);
    // Column names only: a command may be long, and a key never goes into a detail.
    await auditHostAct(sql, env, { action: 'node.set', target: name, tenant: PLATFORM_TENANT, detail: { changed } });
    return changed;
  });
  process.stdout.write(`changed ${columns.join(', ')} of node ${name}\n`);
}

async function toggle(name: string, active: boolean, opts: { configDir?: string }, env: Env): Promise<void> {
  const verb = active ? 'activate' : 'deactivate';
  const changed = await withDatabase(opts.configDir, env, async ({ sql }) => {
    const result = await setNodeActive(sql, name, active);
    if (result === undefined) throw failure(`no node "${name}" (cmq nodes list)`);
    await auditHostAct(sql, env, {
      action: `node.${verb}`,
      target: name,
      tenant: PLATFORM_TENANT,
      detail: { changed: result },
    });
    return result;
  });
  process.stdout.write(`${changed ? `${verb}d` : `already ${verb}d:`} node ${name}\n`);
}

/** `cmq nodes set|activate|deactivate NAME`: change a node's commands and connection, or its active flag; audited. */
export function registerNodeAdmin(nodes: Command, env: Env): void {
  withConfigDir(
    nodes
      .command('set')
      .argument('<name>', 'node name')
      .description(
        "change a node's commands or connection (checked as add checks them); a new key is encrypted with km.active_key_id and never printed",
      ),
  )
    .option('--start-cmd <command>', 'shell command that starts the worker process')
    .option('--stop-cmd <command>', 'shell command that stops it')
    .option('--status-cmd <command>', 'shell command that reports it (exit 0: running)')
    .option('--address <address>', 'IPv4 address or host name (must be inside SOURCE_CIDR when used)')
    .option('--port <port>', 'SSH port', positiveInt(65535))
    .option('--user <user>', 'login user')
    .option('--key-file <file>', 'new private key file (unencrypted PEM or OpenSSH)')
    .option('--host-key <fingerprint>', 'pinned host key, SHA256:... as ssh-keygen -l prints it')
    .action((name: string, opts: SetOpts) => set(name, opts, env));

  for (const active of [false, true]) {
    const verb = active ? 'activate' : 'deactivate';
    withConfigDir(
      nodes
        .command(verb)
        .argument('<name>', 'node name')
        .description(
          active
            ? 'make a node active again: its node.* actions run'
            : 'make a node inactive: its node.start fails without running anything until activated (stop and status still run)',
        ),
    ).action((name: string, opts: { configDir?: string }) => toggle(name, active, opts, env));
  }
}
