import type { Command } from 'commander';
import { withDatabase } from '../cli-db';
import { CommandFailed } from '../command-error';
import { type Env } from '../config-set';
import { safeJson } from '../format';
import { actionId, seconds, waitMs, withConfigDir } from '../options';
import { mustGetAction, reportOutcome, waitForFinal } from '../wait-final';

/** `cmq result ID`: an action's state and result or error; exit 0 only when it succeeded. */
export function registerResultCommand(program: Command, env: Env): void {
  withConfigDir(program.command('result').argument('<id>', 'action id'))
    .description("print an action's state and its result or error (exit 0 only for succeeded)")
    .option('--wait', 'wait until the action is in a final state')
    .option('--timeout <seconds>', 'with --wait: give up after this long (default 60; exit 1)', seconds)
    .option('--json', 'print the whole row as one JSON object')
    .action(async (text: string, opts: { configDir?: string; wait?: boolean; timeout?: number; json?: boolean }) => {
      const id = actionId(text);
      const wait = waitMs(opts);
      const row = await withDatabase(opts.configDir, env, ({ sql }) =>
        wait === undefined ? mustGetAction(sql, id) : waitForFinal(sql, id, wait),
      );
      if (opts.json !== true) return reportOutcome(row);
      process.stdout.write(`${safeJson(row)}\n`);
      if (row.state !== 'succeeded') throw new CommandFailed('', 1);
    });
}
