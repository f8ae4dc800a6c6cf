import { FAMILIES } from '@cmq/common';
import { z } from 'zod';
import { ACCOUNT_ID } from './ids';

export const POLICY_NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

const seconds = (min: number, max: number) => z.number().min(min).max(max);
const count = (max: number) => z.number().int().min(0).max(max);
const command = z.string().min(1).max(4_000);

/**
 * An autoscaling policy: which queue families it watches, where and how its worker servers are
 * launched and started, and the knobs of decide() (docs/autoscaling.md says what each does).
 * `{server}` in a bootstrap command is replaced by the server's id when the server becomes a node.
 */
export const POLICY_SCHEMA = z
  .strictObject({
    families: z.array(z.enum(FAMILIES)).min(1).max(FAMILIES.length),
    account: ACCOUNT_ID,
    image: z.string().min(1).max(200).optional(),
    size: z.string().min(1).max(100).optional(),
    /** The subscriber's queues on each server (default: the families). */
    queues: z.array(z.enum(FAMILIES)).min(1).max(FAMILIES.length).optional(),
    /** The subscriber's concurrency: the slots one server brings. */
    concurrency: z.number().int().min(1).max(1_000).default(4),
    start_cmd: command,
    stop_cmd: command,
    status_cmd: command,
    min: count(1_000).default(0),
    max: count(1_000).default(4),
    target_wait_s: seconds(0.1, 86_400).default(60),
    age_high_s: seconds(0.1, 86_400).default(300),
    step_up_max: z.number().int().min(1).max(1_000).default(4),
    step_down_max: z.number().int().min(1).max(1_000).default(1),
    stabilization_s: seconds(0, 86_400).default(600),
    cooldown_out_s: seconds(0, 86_400).default(120),
    cooldown_in_s: seconds(0, 86_400).default(300),
    idle_to_zero_s: seconds(0, 86_400).default(900),
    launches_per_hour: z.number().int().min(1).max(10_000).default(30),
    /** Completions per slot per second assumed until measured (and its floor). */
    rate_per_slot: seconds(0.001, 10_000).default(1),
    /** An input older than this holds every change. */
    stale_after_s: seconds(1, 86_400).default(60),
    /** Launch failures in a row that open the breaker, and how long it stays open. */
    breaker_failures: z.number().int().min(1).max(100).default(3),
    breaker_open_s: seconds(1, 86_400).default(600),
    /** Longest a drain waits for in-flight work to end and the heartbeat to go before it is reported. */
    drain_timeout_s: seconds(1, 86_400).default(300),
    /** How long an unknown server of the account may run before it is terminated. */
    orphan_grace_s: seconds(0, 86_400).default(600),
  })
  .superRefine((p, ctx) => {
    if (p.min > p.max) ctx.addIssue({ code: 'custom', path: ['min'], message: `min ${p.min} is above max ${p.max}` });
  });

/** A policy's knobs as stored (defaults applied). */
export type PolicySpec = z.output<typeof POLICY_SCHEMA>;

export type PolicyCheck = { ok: true; spec: PolicySpec } | { ok: false; error: string };

function issueText(issue: z.core.$ZodIssue): string {
  const field = issue.path.map(String).join('.') || '(policy)';
  return issue.code === 'unrecognized_keys'
    ? `${field === '(policy)' ? 'policy' : field}: unknown field(s) ${issue.keys.join(', ')}`
    : `${field}: ${issue.message}`;
}

/** Validates a policy; the error names every offending field. */
export function checkPolicy(input: unknown): PolicyCheck {
  const parsed = POLICY_SCHEMA.safeParse(input);
  if (!parsed.success) return { ok: false, error: parsed.error.issues.map(issueText).join('; ') };
  return { ok: true, spec: parsed.data };
}

/** The policy's field names, for `cmq policies set KEY=VALUE`. */
export const POLICY_FIELDS = Object.keys(POLICY_SCHEMA.shape) as (keyof PolicySpec)[];
