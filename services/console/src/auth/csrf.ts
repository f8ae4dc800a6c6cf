import { createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { isStateChanging, originMatches } from './request-info';

/**
 * The CSRF token of a user authenticated by the proxy header: the proxy adds the header to
 * every request, a cross-site one included, so such requests need a token like a session's.
 * Keyed by the user's password hash (never shown), it is the same on every console.
 */
export function proxyCsrfToken(userName: string, passwordHash: string): string {
  return createHmac('sha256', passwordHash).update(`cmq-console-csrf:${userName}`).digest('base64url');
}

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string' || given === '') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function givenToken(req: FastifyRequest): unknown {
  const header = req.headers['x-csrf-token'];
  if (typeof header === 'string') return header;
  const body = req.body;
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>)._csrf : undefined;
}

/**
 * preHandler (after the body is parsed, so the form field counts): a state-changing request of a
 * session or proxy user needs the CSRF token in `x-csrf-token` or `_csrf`, and an Origin, when
 * present, naming this console. API-token requests are exempt: a browser never adds the token.
 */
export async function checkCsrf(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!isStateChanging(req.method) || req.principal === undefined || req.principal.via === 'token') return;
  if (!originMatches(req)) {
    await reply.code(403).send({ error: 'cross-origin request refused' });
    return;
  }
  if (req.csrfToken === undefined || !sameToken(givenToken(req), req.csrfToken))
    await reply.code(403).send({ error: 'missing or wrong CSRF token (header x-csrf-token or form field _csrf)' });
}
