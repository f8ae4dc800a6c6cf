import { type AuditRow, listAudit } from '@cmq/actions';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { idParam, queryOf, textParam } from '../query-params';
import { unbound, wantsJson } from './act-common';

export interface AuditView {
  filter: { actor: string; action: string; tenant: string };
  rows: AuditRow[];
}

/** GET /audit and /api/audit: who did what, when, from where, with the outcome; filterable; admins of all tenants only. */
export function registerAuditView(app: FastifyInstance, ctx: ConsoleContext): void {
  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const q = queryOf(req);
    const filter = {
      actor: textParam('actor', q.actor) ?? '',
      action: textParam('action', q.action) ?? '',
      tenant: textParam('tenant', q.tenant, 63) ?? '',
    };
    const rows = await listAudit(ctx.database.sql, {
      actor: filter.actor || undefined,
      action: filter.action || undefined,
      tenant: filter.tenant || undefined,
      before: idParam('before', q.before),
      limit: ctx.config.own.console.page_size,
    });
    const data: AuditView = { filter, rows };
    if (wantsJson(req)) return reply.send(data);
    return reply.viewAsync('audit.eta', { ...chrome(req, '/audit', 'Audit'), data });
  };
  const admin = { preHandler: [requireRole('admin'), unbound] };
  app.get('/audit', admin, handler);
  app.get('/api/audit', admin, handler);
}
