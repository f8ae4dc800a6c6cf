import type { FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { Role } from './types';

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` is at least `needed` (viewer < operator < admin). */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** preHandler: 403 unless the principal's role is at least `role` (viewer < operator < admin). */
export function requireRole(role: Role): preHandlerHookHandler {
  return function checkRole(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    const p = req.principal;
    if (p === undefined) {
      void reply.code(401).send({ error: 'not authenticated' });
      return;
    }
    if (!roleAtLeast(p.role, role)) {
      void reply.code(403).send({ error: `this needs the ${role} role; ${p.name} is ${p.role}` });
      return;
    }
    done();
  };
}

/**
 * The tenant every query of this request must be limited to; null = all tenants.
 * @throws Error when the request was not authenticated (a route outside registerAuth's hook).
 */
export function tenantScope(req: FastifyRequest): string | null {
  if (req.principal === undefined) throw new Error(`tenantScope: ${req.url} has no authenticated principal`);
  return req.principal.tenant;
}

/** The CSRF token for the current session, to put into pages (meta tag `csrf-token`); '' without a session. */
export function csrfTokenOf(req: FastifyRequest): string {
  return req.csrfToken ?? '';
}
