import { addTenant, setTenantEnabled } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { auditAct, refuse, formOf, tenantParam, unbound, wantsJson } from './act-common';

/** What disabling does to a tenant's waiting actions, said before it is confirmed. */
async function waitingOf(ctx: ConsoleContext, tenant: string): Promise<number> {
  const { rows } = await ctx.database.sql.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM actions WHERE tenant_id = $1 AND state IN ('pending', 'queued', 'retrying')`,
    [tenant],
  );
  return rows[0]?.n ?? 0;
}

async function add(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = formOf(req);
  const id = (body.id ?? '').trim();
  const name = (body.name ?? '').trim() || id;
  try {
    await addTenant(ctx.database.sql, id, name);
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_TENANT') throw err;
    await auditAct(ctx, req, { action: 'tenant.add', target: id, outcome: 'refused', detail: { error: err.message } });
    return refuse(req, reply, '/tenants', 400, err.message);
  }
  await auditAct(ctx, req, { action: 'tenant.add', target: id, outcome: 'ok', tenant: id, detail: { name } });
  return wantsJson(req) ? reply.code(201).send({ id }) : reply.code(303).redirect('/tenants');
}

async function confirmToggle(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { tenant } = req.params as { tenant: string };
  const enable = (req.query as { to?: string }).to === 'enable';
  const data = { tenant, enable, waiting: await waitingOf(ctx, tenant) };
  if (wantsJson(req)) return reply.send(data);
  return reply.viewAsync('tenant-toggle.eta', { ...chrome(req, '/tenants', 'Tenant'), data });
}

async function toggle(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { tenant } = req.params as { tenant: string };
  const enable = formOf(req).enabled === 'true';
  const waiting = await waitingOf(ctx, tenant);
  let changed: boolean;
  try {
    changed = await setTenantEnabled(ctx.database.sql, tenant, enable);
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_TENANT') throw err;
    return refuse(req, reply, '/tenants', 404, err.message);
  }
  const action = enable ? 'tenant.enable' : 'tenant.disable';
  await auditAct(ctx, req, { action, target: tenant, outcome: 'ok', tenant, detail: { changed, waiting } });
  return wantsJson(req) ? reply.send({ changed }) : reply.code(303).redirect('/tenants');
}

/**
 * Tenants from the console, admins bound to no tenant only (tenants are the platform's): POST /tenants adds one;
 * GET /tenants/:tenant/enabled?to=disable|enable says what happens to its waiting actions;
 * POST /tenants/:tenant/enabled (enabled=true|false) does it. The same code as `cmq tenants`.
 */
export function registerTenantActs(app: FastifyInstance, ctx: ConsoleContext): void {
  const admin = { preHandler: [requireRole('admin'), unbound] };
  const adminOfOne = { preHandler: [requireRole('admin'), unbound, tenantParam] };
  app.post('/tenants', admin, (req, reply) => add(ctx, req, reply));
  app.get('/tenants/:tenant/enabled', adminOfOne, (req, reply) => confirmToggle(ctx, req, reply));
  app.post('/tenants/:tenant/enabled', adminOfOne, (req, reply) => toggle(ctx, req, reply));
}
