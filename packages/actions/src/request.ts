import type { Family } from '@cmq/common';
import { z } from 'zod';
import { checkArgs } from './definitions';
import { type RequestIssue, issuesText, zodIssue } from './request-issues';
import { unstorableIssue, unstorableJson } from './storable';

/** Largest serialized `args` accepted at intake (well under the subscribers' body cap). */
export const MAX_ARGS_BYTES = 128 * 1024;

/** One validated request, ready to insert. */
export interface ActionRequest {
  type: string;
  family: Family;
  tenant: string;
  args: Record<string, unknown>;
  idempotencyKey: string | null;
  notBefore: Date | null;
  expiresAt: Date | null;
  priority: number;
  maxAttempts: number;
}

/** The JSON shape of a request (one line of `cmq call --stdin`). */
const RequestShape = z.strictObject({
  type: z.string().min(1),
  tenant: z.string().min(1),
  args: z.record(z.string(), z.unknown()).optional(),
  idempotency_key: z.string().min(1).max(200).optional(),
  countdown: z.number().min(0).optional(),
  eta: z.iso.datetime({ offset: true }).optional(),
  expires: z.iso.datetime({ offset: true }).optional(),
  priority: z.number().int().min(-100).max(100).optional(),
  max_attempts: z.number().int().min(1).max(100).optional(),
});
export type RawRequest = z.input<typeof RequestShape>;

export type RequestCheck =
  | { ok: true; request: ActionRequest }
  | {
      ok: false;
      /** What was wrong, as one line (built from `issues`). */
      error: string;
      /** What was wrong, field by field. */
      issues: RequestIssue[];
    };

function refused(...issues: RequestIssue[]): RequestCheck {
  return { ok: false, error: issuesText(issues), issues };
}

/** Validates one request; the error (and each of its issues) names the offending field. */
export function parseRequest(raw: unknown, now: Date = new Date()): RequestCheck {
  const shape = RequestShape.safeParse(raw);
  if (!shape.success) return refused(...shape.error.issues.map((i) => zodIssue(i)));
  const r = shape.data;
  for (const field of ['type', 'tenant', 'idempotency_key'] as const) {
    const bad = unstorableIssue(r[field], [field]);
    if (bad !== undefined) return refused(bad);
  }
  if (r.countdown !== undefined && r.eta !== undefined)
    return refused({ path: ['countdown'], subject: 'countdown and eta', message: 'give one of them, not both' });
  const args = checkArgs(r.type, r.args ?? {});
  if (!args.ok) return refused(...args.issues);
  const argsJson = JSON.stringify(args.args);
  const badArg = unstorableJson(args.args, argsJson, ['args']);
  if (badArg !== undefined) return refused(badArg);
  const size = Buffer.byteLength(argsJson);
  if (size > MAX_ARGS_BYTES)
    return refused({ path: ['args'], message: `${size} bytes, more than the ${MAX_ARGS_BYTES} allowed` });
  const notBefore =
    r.countdown !== undefined
      ? new Date(now.getTime() + r.countdown * 1000)
      : r.eta !== undefined
        ? new Date(r.eta)
        : null;
  if (notBefore !== null && Number.isNaN(notBefore.getTime()))
    return refused({ path: ['countdown'], message: 'too far in the future' });
  const expiresAt = r.expires !== undefined ? new Date(r.expires) : null;
  if (expiresAt !== null && notBefore !== null && expiresAt <= notBefore)
    return refused({ path: ['expires'], message: 'must be later than the countdown or eta' });
  return {
    ok: true,
    request: {
      type: r.type,
      family: args.family,
      tenant: r.tenant,
      args: args.args,
      idempotencyKey: r.idempotency_key ?? null,
      notBefore,
      expiresAt,
      priority: r.priority ?? 0,
      maxAttempts: r.max_attempts ?? 5,
    },
  };
}
