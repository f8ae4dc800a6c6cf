import type { FastifyReply, FastifyRequest } from 'fastify';
import { tenantScope } from './auth';

/**
 * The tenant a query of this request is limited to: the principal's own when bound to one
 * (whatever the request asked for), else the tenant asked for, else none (all tenants).
 */
export function scopedTenant(req: FastifyRequest, asked: string | undefined): string | null {
  const scope = tenantScope(req);
  if (scope !== null) return scope;
  return asked === undefined || asked === '' ? null : asked;
}

/** Whether a row of `tenant` may be shown to this request (404 otherwise, so its existence is not told). */
export function visible(req: FastifyRequest, tenant: string | null): boolean {
  const scope = tenantScope(req);
  return scope === null || scope === tenant;
}

export function notFound(reply: FastifyReply, what: string): FastifyReply {
  return reply.code(404).send({ error: `${what} not found` });
}
