import { type ActionRequest, isActionId, parseRequest } from '@cmq/actions';

/** What an incoming message turned out to be. */
export type DeliveryKind =
  /** A pointer to an action row (published by the relay): claim it. */
  | { kind: 'action'; id: string; tenant: string | null }
  /** A complete, valid request published straight onto the broker: take it in through intake. */
  | { kind: 'direct'; request: ActionRequest }
  /** Not something that can ever run: dead-letter it with `reason` (`unread`: too big to be read). */
  | { kind: 'invalid'; reason: string; tenant: string | null; unread?: boolean };

/** A message's id as a reason shows it: short, and never by serializing what may be nested without end. */
function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function tenantOf(value: unknown): string | null {
  return typeof value === 'object' && value !== null && typeof (value as { tenant?: unknown }).tenant === 'string'
    ? (value as { tenant: string }).tenant
    : null;
}

/**
 * Classifies a message body: over `maxBytes`, not JSON, not an object, a bad id, an unknown
 * type or arguments that fail the type's schema are `invalid`, each with a reason an operator
 * can act on. A body without an id is a request, validated as `cmq call` validates one
 * (parseRequest; a countdown counts from `now`).
 */
export function classify(content: Buffer, maxBytes: number, now: Date = new Date()): DeliveryKind {
  if (content.length > maxBytes) {
    return {
      kind: 'invalid',
      reason: `body of ${content.length} bytes is over the ${maxBytes}-byte limit (subscriber max_body_bytes)`,
      tenant: null,
      unread: true,
    };
  }
  let body: unknown;
  try {
    body = JSON.parse(content.toString('utf8'));
  } catch (err) {
    return { kind: 'invalid', reason: `body is not JSON: ${(err as Error).message}`, tenant: null };
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return { kind: 'invalid', reason: 'body is JSON but not an object with id, tenant, type and args', tenant: null };
  }
  const message = body as Record<string, unknown>;
  const tenant = tenantOf(message);
  if (message.id !== undefined) {
    // A number past 2^53 has lost digits in JSON.parse: it would name another action.
    const id = typeof message.id === 'number' && Number.isSafeInteger(message.id) ? String(message.id) : message.id;
    if (typeof id !== 'string' || !isActionId(id))
      return { kind: 'invalid', reason: `id: ${shown(message.id)} is not an action id`, tenant };
    return { kind: 'action', id, tenant };
  }
  // The whole body, as `cmq call --stdin` takes a line: its scheduling (countdown, eta, expires,
  // priority, max_attempts) is kept, and a bad or unknown field is dead-lettered by name.
  const checked = parseRequest(message, now);
  if (!checked.ok) return { kind: 'invalid', reason: checked.error, tenant };
  return { kind: 'direct', request: checked.request };
}
