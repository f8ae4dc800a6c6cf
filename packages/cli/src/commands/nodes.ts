import {
  type NodeInfo,
  PLATFORM_TENANT,
  addNode,
  getNode,
  listNodes,
  nodeProblems,
  parseRequest,
  removeNode,
} from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Command } from 'commander';
import { type Env } from '../config-set';
import { CommandFailed, Exit, failure, refused } from '../command-error';
import { withDatabase } from '../cli-db';
import { jsonLines, oneLine, safeJson, table, time } from '../format';
import { positiveInt, seconds, waitMs, withConfigDir } from '../options';
import { loadMode } from '../provisioning';
import { submitOne } from '../submit-one';
import { sealKeyFile } from './guests';
import { auditHostAct } from './host-audit';
import { registerNodeAdmin } from './nodes-admin';
import { intakeKeyring } from '../intake-keyring';

interface AddOpts {
  configDir?: string;
  address: string;
  port: number;
  user: string;
  keyFile: string;
  hostKey?: string;
  startCmd: string;
  stopCmd: string;
  statusCmd: string;
  active?: boolean;
}

async function add(name: string, opts: AddOpts, env: Env): Promise<void> {
  const node = {
    name,
    address: opts.address,
    port: opts.port,
    user: opts.user,
    hostKey: opts.hostKey,
    startCmd: opts.startCmd,
    stopCmd: opts.stopCmd,
    statusCmd: opts.statusCmd,
    active: opts.active !== false,
  };
  // A malformed field is a bad request (2), refused before the key is read; a taken name is 1.
  const problem = Object.values(nodeProblems(node))[0];
  if (problem !== undefined) throw refused(problem);
  const encryptedKey = sealKeyFile(opts.configDir, env, opts.keyFile);
  await withDatabase(opts.configDir, env, async ({ sql }) => {
    try {
      await addNode(sql, { ...node, encryptedKey });
    } catch (err) {
      if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_NODE') throw err;
      throw new CommandFailed(err.message, Exit.FAILURE);
    }
    await auditHostAct(sql, env, {
      action: 'node.add',
      target: name,
      tenant: PLATFORM_TENANT,
      detail: { active: node.active },
    });
  });
}

function lastStatus(n: NodeInfo): string {
  if (n.last_at === null) return '(never)';
  return `${n.last_action ?? '?'} exit ${n.last_exit_code ?? 'killed'} at ${time(n.last_at)}`;
}

function printNodes(rows: readonly NodeInfo[], json: boolean | undefined): void {
  if (json === true) {
    process.stdout.write(jsonLines(rows));
    return;
  }
  const cells = rows.map((r) => [
    r.name,
    `${r.user}@${r.address}:${r.port}`,
    r.active ? 'yes' : 'no',
    r.host_key_fingerprint ?? '(none)',
    lastStatus(r),
    oneLine(r.last_output, 40),
  ]);
  process.stdout.write(table(['NODE', 'TARGET', 'ACTIVE', 'HOST KEY', 'LAST STATUS', 'OUTPUT'], cells));
}

async function submit(
  which: 'start' | 'stop' | 'status',
  name: string,
  opts: { configDir?: string; wait?: boolean; timeout?: number },
  env: Env,
): Promise<void> {
  const wait = waitMs(opts);
  const checked = parseRequest({ type: `node.${which}`, tenant: PLATFORM_TENANT, args: { node: name } });
  if (!checked.ok) throw refused(checked.error);
  const mode = loadMode(opts.configDir, env);
  await withDatabase(opts.configDir, env, async (db) => {
    if ((await getNode(db.sql, name)) === undefined) throw refused(`no node "${name}" (cmq nodes list)`);
    await submitOne(db, checked.request, env, mode, wait, intakeKeyring(opts.configDir, env));
  });
}

/** `cmq nodes add|list|show|set|activate|deactivate|remove|start|stop|status`: the platform's own hosts (tenant cmq-platform). */
export function registerNodeCommands(program: Command, env: Env): void {
  const nodes = program
    .command('nodes')
    .description(
      `the platform's own hosts whose worker processes node.* actions start and stop over SSH (tenant ${PLATFORM_TENANT})`,
    );

  withConfigDir(
    nodes
      .command('add')
      .argument('<name>', 'node name')
      .description('register a node; its private key is encrypted with km.active_key_id and never printed'),
  )
    .requiredOption('--address <address>', 'IPv4 address or host name (must be inside SOURCE_CIDR when used)')
    .option('--port <port>', 'SSH port', positiveInt(65535), 22)
    .requiredOption('--user <user>', 'login user')
    .requiredOption('--key-file <file>', 'private key file (unencrypted PEM or OpenSSH)')
    .option(
      '--host-key <fingerprint>',
      'pinned host key, SHA256:... as ssh-keygen -l prints it; without it, connections are refused',
    )
    .requiredOption('--start-cmd <command>', 'shell command that starts the worker process')
    .requiredOption('--stop-cmd <command>', 'shell command that stops it')
    .requiredOption('--status-cmd <command>', 'shell command that reports it (exit 0: running)')
    .option('--active', 'node takes part (default)')
    .option('--inactive', 'registered, but not started (node.start fails) until cmq nodes activate')
    .action(async (name: string, opts: AddOpts & { inactive?: boolean }) => {
      await add(name, { ...opts, active: opts.inactive !== true }, env);
      process.stdout.write(
        `added node ${name}${opts.hostKey === undefined ? ' (no host key pinned: connections are refused until one is)' : ''}\n`,
      );
    });

  withConfigDir(nodes.command('list').description('list nodes with their last status (never their keys)'))
    .option('--json', 'one JSON object per line')
    .action(async (opts: { configDir?: string; json?: boolean }) => {
      printNodes(await withDatabase(opts.configDir, env, ({ sql }) => listNodes(sql)), opts.json);
    });

  withConfigDir(
    nodes.command('show').argument('<name>', 'node name').description('one node, with its commands and last output'),
  ).action(async (name: string, opts: { configDir?: string }) => {
    const node = await withDatabase(opts.configDir, env, ({ sql }) => getNode(sql, name));
    if (node === undefined) throw failure(`no node "${name}"`);
    process.stdout.write(`${safeJson(node)}\n`);
  });

  withConfigDir(
    nodes.command('remove').argument('<name>', 'node name').description('forget a node (its key is deleted)'),
  ).action(async (name: string, opts: { configDir?: string }) => {
    await withDatabase(opts.configDir, env, async ({ sql }) => {
      if (!(await removeNode(sql, name))) throw failure(`no node "${name}"`);
      await auditHostAct(sql, env, { action: 'node.remove', target: name, tenant: PLATFORM_TENANT });
    });
    process.stdout.write(`removed node ${name}\n`);
  });

  registerNodeAdmin(nodes, env);

  for (const which of ['start', 'stop', 'status'] as const) {
    withConfigDir(
      nodes
        .command(which)
        .argument('<name>', 'node name')
        .description(`submit node.${which}: run the node's ${which} command over SSH; prints the action id`),
    )
      .option('--wait', 'wait for a final state (exit 0 only for succeeded)')
      .option('--timeout <seconds>', 'with --wait: give up after this long (default 60)', seconds)
      .action((name: string, opts: { configDir?: string; wait?: boolean; timeout?: number }) =>
        submit(which, name, opts, env),
      );
  }
}
