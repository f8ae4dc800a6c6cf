import { cancelAction } from '@cmq/actions';
import type { Command } from 'commander';
import { cliActor, withDatabase } from '../cli-db';
import { failure } from '../command-error';
import { type Env } from '../config-set';
import { actionId, withConfigDir } from '../options';

/** `cmq cancel ID`: pending, queued or retrying → cancelled. */
export function registerCancelCommand(program: Command, env: Env): void {
  withConfigDir(program.command('cancel').argument('<id>', 'action id'))
    .description('cancel an action that has not started (pending, queued or retrying)')
    .action(async (text: string, opts: { configDir?: string }) => {
      const id = actionId(text);
      const r = await withDatabase(opts.configDir, env, ({ sql }) => cancelAction(sql, id, cliActor(env)));
      if (!r.ok) throw failure(r.error);
      process.stdout.write(`${id} cancelled (was ${r.before})\n`);
    });
}
