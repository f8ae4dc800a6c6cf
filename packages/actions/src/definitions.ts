import { FAMILIES, type Family } from '@cmq/common';
import { z } from 'zod';
import { NODE_DEFINITIONS, SERVER_DEFINITIONS } from './provisioning-definitions';
import { PROBE_DEFINITIONS } from './probe-definitions';
import { LOG_DEFINITIONS } from './log-definitions';
import { SYNC_DEFINITIONS } from './sync-definitions';
import type { ActionDefinition } from './action-definition';

export type { ActionDefinition } from './action-definition';

const noop: ActionDefinition = {
  type: 'noop',
  description: 'does nothing, optionally slowly or failing: for tests, benchmarks and drills',
  schema: z.strictObject({
    sleep_ms: z.number().int().min(0).max(600_000).optional(),
    fail_times: z.number().int().min(0).max(1_000).optional(),
    fail: z.enum(['permanent', 'outcome']).optional(),
    count: z.boolean().optional(),
    family: z.enum(FAMILIES).optional(),
  }),
  family: (args) => (args.family as Family | undefined) ?? 'control',
};

const ping: ActionDefinition = {
  type: 'ping',
  description: 'a canary: proves a family queue is consumed, end to end',
  schema: z.strictObject({ family: z.enum(FAMILIES).optional(), sent_at: z.iso.datetime().optional() }),
  family: (args) => (args.family as Family | undefined) ?? 'control',
};

const guestExec: ActionDefinition = {
  type: 'guest.exec',
  description:
    'runs a shell command on a guest over SSH: {code, stdout, stderr, truncated}; a non-zero exit ends the action failed',
  schema: z.strictObject({
    guest: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a guest id of the tenant (cmq guests list)'),
    command: z
      .string()
      .min(1)
      .max(64 * 1024),
    timeout: z.number().positive().max(86_400).optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a shell variable name'), z.string().max(64 * 1024))
      .optional(),
  }),
  family: () => 'guest',
};

const DEFINITIONS = new Map<string, ActionDefinition>(
  [
    noop,
    ping,
    guestExec,
    ...SERVER_DEFINITIONS,
    ...NODE_DEFINITIONS,
    ...PROBE_DEFINITIONS,
    ...LOG_DEFINITIONS,
    ...SYNC_DEFINITIONS,
  ].map((d) => [d.type, d]),
);

export function knownActionTypes(): string[] {
  return [...DEFINITIONS.keys()].sort();
}

/** The queue family an action of `type` goes to when its arguments do not choose one (undefined: unknown type). */
export function defaultFamily(type: string): Family | undefined {
  return DEFINITIONS.get(type)?.family({});
}

export type ArgsCheck = { ok: true; args: Record<string, unknown>; family: Family } | { ok: false; error: string };

/** Validates `args` against the type's schema; the error names each offending field. */
export function checkArgs(type: string, args: unknown): ArgsCheck {
  const def = DEFINITIONS.get(type);
  if (def === undefined)
    return { ok: false, error: `unknown action type "${type}" (known: ${knownActionTypes().join(', ')})` };
  const parsed = def.schema.safeParse(args ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const field = ['args', ...i.path.map(String)].join('.');
      return i.code === 'unrecognized_keys'
        ? `${field}: unknown field(s) ${i.keys.join(', ')}`
        : `${field}: ${i.message}`;
    });
    return { ok: false, error: problems.join('; ') };
  }
  return { ok: true, args: parsed.data, family: def.family(parsed.data) };
}
