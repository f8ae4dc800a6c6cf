import { actionEvents, countActions, listActions } from '@cmq/actions';
import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { type Env } from '../config-set';
import { actionDetails, actionsTable, eventsTable, jsonLines, safeJson } from '../format';
import { actionId, actionState, positiveInt, withConfigDir } from '../options';
import { mustGetAction } from '../wait-final';

interface ListOpts {
  configDir?: string;
  tenant?: string;
  state?: string;
  type?: string;
  limit: number;
  json?: boolean;
  count?: boolean;
}

async function list(opts: ListOpts, env: Env): Promise<void> {
  const filter = { tenant: opts.tenant, state: opts.state, type: opts.type };
  await withDatabase(opts.configDir, env, async ({ sql }) => {
    if (opts.count === true) {
      process.stdout.write(`${await countActions(sql, filter)}\n`);
      return;
    }
    const rows = await listActions(sql, { ...filter, limit: opts.limit });
    process.stdout.write(opts.json === true ? jsonLines(rows) : actionsTable(rows));
  });
}

/** Prints an action with its events: the life of an action. Shared with `cmq dead show`. */
export async function showAction(
  configDirOption: string | undefined,
  env: Env,
  id: string,
  json: boolean,
  check?: (state: string) => void,
): Promise<void> {
  await withDatabase(configDirOption, env, async ({ sql }) => {
    const row = await mustGetAction(sql, id);
    check?.(row.state);
    const events = await actionEvents(sql, id);
    if (json) process.stdout.write(`${safeJson({ ...row, events })}\n`);
    else process.stdout.write(`${actionDetails(row)}\n${eventsTable(events)}`);
  });
}

/** `cmq actions [filters]` and `cmq actions show ID`. */
export function registerActionsCommands(program: Command, env: Env): void {
  const actions = withConfigDir(program.command('actions'))
    .description('list actions, newest first (or count them); `actions show ID` for one action and its events')
    .option('--tenant <tenant>', "only this tenant's")
    .option('--state <state>', 'only actions in this state', actionState)
    .option('--type <type>', 'only actions of this type')
    .option('--limit <n>', 'at most this many (default 50)', positiveInt(1_000_000), 50)
    .option('--json', 'one JSON object per line')
    .option('--count', 'print only how many match')
    .action((opts: ListOpts) => list(opts, env));

  withConfigDir(actions.command('show').argument('<id>', 'action id'))
    .description("an action's every field and its events (at, from → to, actor, reason)")
    .option('--json', 'one JSON object, with its events')
    // `actions` has --config-dir and --json too, and takes them wherever they are written.
    .action((text: string, _opts: unknown, command: Command) => {
      const opts = command.optsWithGlobals<{ configDir?: string; json?: boolean }>();
      return showAction(opts.configDir, env, actionId(text), opts.json === true);
    });
}
