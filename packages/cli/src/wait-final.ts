import { type ActionRow, getAction } from '@cmq/actions';
import { FINAL_STATES, type Sql, sleep } from '@cmq/common';
import { CommandFailed, failure } from './command-error';
import { outcome } from './format';

export function isFinal(state: string): boolean {
  return (FINAL_STATES as readonly string[]).includes(state);
}

/** The action, or a failure (exit 1) "no action with id N". */
export async function mustGetAction(sql: Sql, id: string): Promise<ActionRow> {
  const row = await getAction(sql, id);
  if (row === undefined) throw failure(`no action with id ${id}`);
  return row;
}

/**
 * Polls the action until it is in a final state (every 50 ms at first, slowing to 500 ms).
 * @throws CommandFailed (exit 1) "action N still <state> after S s" at `timeoutMs`.
 */
export async function waitForFinal(sql: Sql, id: string, timeoutMs: number): Promise<ActionRow> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 50; ; delay = Math.min(500, delay * 1.5)) {
    const row = await mustGetAction(sql, id);
    if (isFinal(row.state)) return row;
    const left = deadline - Date.now();
    if (left <= 0) throw failure(`action ${id} still ${row.state} after ${timeoutMs / 1000} s`);
    await sleep(Math.min(delay, left));
  }
}

/** Prints `<id> <state>` and the result or error; exit 0 only for `succeeded`. */
export function reportOutcome(row: ActionRow): void {
  process.stdout.write(outcome(row));
  if (row.state !== 'succeeded') throw new CommandFailed('', 1);
}
