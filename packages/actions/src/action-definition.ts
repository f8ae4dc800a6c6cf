import type { Family } from '@cmq/common';
import type { z } from 'zod';

/** The operating modes of provisioning.cfg `mode`, from least to most allowed. */
export const MODES = ['passive', 'static', 'dynamic'] as const;
export type Mode = (typeof MODES)[number];

/** An argument schema: always a JSON object, parsed into the handler's argument type. */
export type ArgsSchema = z.ZodType<Record<string, unknown>>;

/**
 * Everything the platform knows about one action type. Intake, the mode rules, the executor's
 * handler table, `cmq call --help` and the console's launch forms all read this one record.
 */
export interface ActionDefinition<T extends string = string, S extends ArgsSchema = ArgsSchema> {
  readonly type: T;
  /** The queue family its actions go to, unless `route` chooses another from the arguments. */
  readonly family: Family;
  /** The least provisioning.cfg mode that lets it be submitted and run. */
  readonly mode: Mode;
  /** One line for `cmq call --help` and the console. */
  readonly description: string;
  /** Whether it destroys or interrupts something (the console asks for confirmation). */
  readonly destructive: boolean;
  readonly schema: S;
  /**
   * Paths of the arguments that are secrets (`env.*`: every value of `env`). They are stored
   * encrypted, in `args` as "****", and given back to the handler only (secret-args.ts).
   */
  readonly secretArgs?: readonly string[];
  /** The family for these (valid) arguments, when they may choose one (a method: bivariant on purpose). */
  route?(args: z.output<S>): Family | undefined;
}

/** Builds a definition keeping its literal type name and schema type (for {@link ArgsOf}). */
export function defineAction<const T extends string, S extends ArgsSchema>(
  def: ActionDefinition<T, S>,
): ActionDefinition<T, S> {
  return def;
}
