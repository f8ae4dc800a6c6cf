import { isActionId } from '@cmq/actions';
import { ACTION_STATES } from '@cmq/common';
import { type Command, InvalidArgumentError } from 'commander';
import { usage } from './command-error';

export const CONFIG_DIR_HELP = 'configuration directory (default /etc/cmq-workers, env CMQ_CONFIG_DIR)';

/** Adds `--config-dir DIR` to a command. */
export function withConfigDir(command: Command): Command {
  return command.option('--config-dir <dir>', CONFIG_DIR_HELP);
}

/** Commander parser: an integer from 1 to `max`. */
export function positiveInt(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max)
      throw new InvalidArgumentError(`must be an integer from 1 to ${max}`);
    return Number(value);
  };
}

/** Commander parser: a number of seconds, more than 0. */
export function seconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || n <= 0 || n > 86_400 * 365)
    throw new InvalidArgumentError('must be a number of seconds, more than 0');
  return n;
}

/** Commander parser: one of the action states. */
export function actionState(value: string): string {
  if (!(ACTION_STATES as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${ACTION_STATES.join(', ')}`);
  return value;
}

/** An action id as typed (a positive integer); anything else is a usage error. */
export function actionId(text: string): string {
  if (!isActionId(text)) throw usage(`"${text}" is not an action id (a positive integer)`);
  return text;
}

export type DeadId = { kind: 'action'; id: string } | { kind: 'message'; id: string };

/** `cmq dead` ids: `123` is a dead action, `m45` a dead message (dead letter). */
export function deadId(text: string): DeadId {
  if (text.startsWith('m') && isActionId(text.slice(1))) return { kind: 'message', id: text.slice(1) };
  if (isActionId(text)) return { kind: 'action', id: text };
  throw usage(`"${text}" is neither an action id (123) nor a dead message id (m45)`);
}

/** `--timeout` given without `--wait` is a usage error; returns the wait in ms, or undefined. */
export function waitMs(opts: { wait?: boolean; timeout?: number }): number | undefined {
  if (opts.timeout !== undefined && opts.wait !== true) throw usage('--timeout goes with --wait');
  return opts.wait === true ? (opts.timeout ?? 60) * 1000 : undefined;
}
