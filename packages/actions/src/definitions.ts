import type { Family } from '@cmq/common';
import type { z } from 'zod';
import type { ActionDefinition } from './action-definition';
import { CONTROL_DEFINITIONS } from './control-definitions';
import { GUEST_DEFINITIONS } from './guest-definitions';
import { METAL_DEFINITIONS } from './metal-definitions';
import { PROBE_DEFINITIONS } from './probe-definitions';
import { NODE_DEFINITIONS, SERVER_DEFINITIONS } from './provisioning-definitions';
import { type RequestIssue, issuesText, zodIssue } from './request-issues';
import { SYNC_DEFINITIONS } from './sync-definitions';

export { defineAction, type ActionDefinition, type ArgsSchema } from './action-definition';

/** Every action type's definition: add a type here (and its handler in the subscriber), nowhere else. */
export const ACTION_DEFINITIONS = [
  ...CONTROL_DEFINITIONS,
  ...GUEST_DEFINITIONS,
  ...PROBE_DEFINITIONS,
  ...SYNC_DEFINITIONS,
  ...SERVER_DEFINITIONS,
  ...NODE_DEFINITIONS,
  ...METAL_DEFINITIONS,
] as const;

type AnyDefinition = (typeof ACTION_DEFINITIONS)[number];
/** The name of a known action type. */
export type ActionType = AnyDefinition['type'];
type ArgsByType = { [D in AnyDefinition as D['type']]: z.output<D['schema']> };
/** The arguments of an action of type `T`, as its schema parses them. */
export type ArgsOf<T extends ActionType> = ArgsByType[T];

const BY_TYPE = new Map<string, ActionDefinition>(ACTION_DEFINITIONS.map((d) => [d.type, d]));

export function isActionType(type: string): type is ActionType {
  return BY_TYPE.has(type);
}

/** The definition of `type`, or undefined when no such type exists. */
export function actionDefinition(type: string): ActionDefinition | undefined {
  return BY_TYPE.get(type);
}

export function knownActionTypes(): ActionType[] {
  return ACTION_DEFINITIONS.map((d) => d.type).sort();
}

/** The queue family an action of `type` goes to when its arguments do not choose one (undefined: unknown type). */
export function defaultFamily(type: string): Family | undefined {
  return BY_TYPE.get(type)?.family;
}

/** A JSON Schema (draft 2020-12) of the arguments of `type` as a request gives them, for generated forms. */
export function argsJsonSchema(type: ActionType): Record<string, unknown> {
  const schema = BY_TYPE.get(type)?.schema;
  if (schema === undefined) throw new Error(`no definition of action type "${type}"`);
  return schema.toJSONSchema({ io: 'input', unrepresentable: 'any' });
}

export type ArgsCheck =
  | { ok: true; type: ActionType; args: ArgsOf<ActionType>; family: Family }
  | { ok: false; error: string; issues: RequestIssue[] };

/** A failed check: its issues, and the text built from them. */
function refused(issues: RequestIssue[]): { ok: false; error: string; issues: RequestIssue[] } {
  return { ok: false, error: issuesText(issues), issues };
}

/** Validates `args` against the type's schema; the error (and each issue) names each offending field. */
export function checkArgs(type: string, args: unknown): ArgsCheck {
  const def = BY_TYPE.get(type);
  if (def === undefined || !isActionType(type))
    return refused([
      {
        path: ['type'],
        subject: '',
        message: `unknown action type "${type}" (known: ${knownActionTypes().join(', ')})`,
      },
    ]);
  const parsed = def.schema.safeParse(args ?? {});
  if (!parsed.success) return refused(parsed.error.issues.map((i) => zodIssue(i, ['args'])));
  // The arguments of `type`, parsed by that type's own schema.
  const typed = parsed.data as ArgsOf<ActionType>;
  return { ok: true, type, args: typed, family: def.route?.(parsed.data) ?? def.family };
}
