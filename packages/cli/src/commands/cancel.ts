import { transition } from '@cmq/actions';
import type { Command } from 'commander';
import { cliActor, withDatabase } from '../cli-db';
import { failure } from '../command-error';
import { type Env } from '../config-set';
import { actionId, withConfigDir } from '../options';
import { isFinal } from '../wait-final';

/** States an action can be cancelled from: it has not started running. */
const CANCELLABLE = ['pending', 'queued', 'retrying'];

function whyNot(id: string, state: string): string {
  if (state === 'running')
    return `action ${id} is running: it cannot be cancelled (it ends on its own; its handler has a timeout)`;
  if (isFinal(state))
    return `action ${id} is already ${state}: only pending, queued or retrying actions can be cancelled`;
  return `action ${id} is ${state}: only pending, queued or retrying actions can be cancelled`;
}

/** `cmq cancel ID`: pending, queued or retrying → cancelled. */
export function registerCancelCommand(program: Command, env: Env): void {
  withConfigDir(program.command('cancel').argument('<id>', 'action id'))
    .description('cancel an action that has not started (pending, queued or retrying)')
    .action(async (text: string, opts: { configDir?: string }) => {
      const id = actionId(text);
      const { before, changed } = await withDatabase(opts.configDir, env, ({ sql }) =>
        transition(sql, id, CANCELLABLE, 'cancelled', cliActor(env), 'cancelled by an operator'),
      );
      if (before === undefined) throw failure(`no action with id ${id}`);
      if (!changed) throw failure(whyNot(id, before));
      process.stdout.write(`${id} cancelled (was ${before})\n`);
    });
}
