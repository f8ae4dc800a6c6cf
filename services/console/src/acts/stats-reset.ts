import { resetTenantHistory } from '@cmq/actions';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from '../auth';
import type { ConsoleContext } from '../context';
import { BadQuery, chrome } from '../pages';
import { timeParam } from '../query-params';
import { auditAct, formOf, mayActOn, outsideTenant, tenantParam, wantsJson } from './act-common';

/** Rows per transaction of the console's reset (the CLI reads publisher.properties history.batch). */
const RESET_BATCH = 1000;

interface ResetAsk {
  tenant: string;
  before: Date;
}

function askOf(req: FastifyRequest, fields: Record<string, string>): ResetAsk {
  const { tenant } = req.params as { tenant: string };
  const before = timeParam('before', fields.before?.trim() || undefined);
  if (before === undefined) throw new BadQuery('before', 'give a date: history finished before it is removed');
  return { tenant, before };
}

async function count(ctx: ConsoleContext, ask: ResetAsk): Promise<number> {
  const sql = ctx.database.sql;
  const { counts, error } = await resetTenantHistory(sql, ctx.database.transaction.bind(ctx.database), {
    ...ask,
    batch: RESET_BATCH,
    dryRun: true,
  });
  if (error !== undefined) throw error;
  return counts.reduce((n, c) => n + c.actions, 0);
}

async function confirmPage(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const ask = askOf(req, (req.query ?? {}) as Record<string, string>);
  if (!mayActOn(req, ask.tenant)) return outsideTenant(reply, ask.tenant);
  const data = { tenant: ask.tenant, before: ask.before.toISOString(), count: await count(ctx, ask) };
  if (wantsJson(req)) return reply.send(data);
  return reply.viewAsync('stats-reset.eta', { ...chrome(req, '/tenants', 'Reset job stats'), data });
}

async function reset(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = formOf(req);
  const ask = askOf(req, body);
  if (!mayActOn(req, ask.tenant)) return outsideTenant(reply, ask.tenant);
  const n = await count(ctx, ask);
  if (String(n) !== body.expected) {
    const error = `the reset now selects ${n} action(s), not the ${body.expected ?? '(unstated)'} you confirmed: look again`;
    await auditAct(ctx, req, {
      action: 'history.prune',
      target: `tenant:${ask.tenant}`,
      outcome: 'refused',
      tenant: ask.tenant,
      detail: { error },
    });
    return reply.code(409).send({ error, count: n });
  }
  const { counts, error } = await resetTenantHistory(ctx.database.sql, ctx.database.transaction.bind(ctx.database), {
    ...ask,
    batch: RESET_BATCH,
    dryRun: false,
  });
  const removed = {
    actions: counts.reduce((s, c) => s + c.actions, 0),
    events: counts.reduce((s, c) => s + c.events, 0),
  };
  await auditAct(ctx, req, {
    action: 'history.prune',
    target: `tenant:${ask.tenant}`,
    outcome: error === undefined ? 'ok' : 'failed',
    tenant: ask.tenant,
    detail: { before: ask.before.toISOString(), ...removed },
  });
  if (error !== undefined) throw error;
  if (wantsJson(req)) return reply.send(removed);
  return reply.code(303).redirect(`/tenants?reset=${encodeURIComponent(ask.tenant)}`);
}

/**
 * The job stats reset of one tenant: GET /tenants/:tenant/reset?before=DATE counts what it would
 * remove (final actions finished before DATE; never running or waiting ones), POST removes them
 * if the count is still the one confirmed. The same code as `cmq history prune --tenant --before`.
 */
export function registerStatsReset(app: FastifyInstance, ctx: ConsoleContext): void {
  const operator = { preHandler: [requireRole('operator'), tenantParam] };
  app.get('/tenants/:tenant/reset', operator, (req, reply) => confirmPage(ctx, req, reply));
  app.post('/tenants/:tenant/reset', operator, (req, reply) => reset(ctx, req, reply));
}
