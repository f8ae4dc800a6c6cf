import {
  type ActResult,
  type DeadFilter,
  cancelAction,
  countDeadMatching,
  getAction,
  isRowId,
  replayDead,
  replayDeadMatching,
  replayDeadMessage,
} from '@cmq/actions';
import { Exchanges } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole, tenantScope } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { textParam, timeParam } from '../query-params';
import { withBroker } from './worker-acts';
import { auditAct, consoleActor, formOf, mayActOn, outsideTenant, refuse, wantsJson } from './act-common';

type OneAct = (sql: ConsoleContext['database']['sql'], id: string, actor: string) => Promise<ActResult>;

/** POST /actions/:id/<act>: the same function as the CLI's command, as `console:<user>`, audited. */
function actOnOne(ctx: ConsoleContext, name: 'cancel' | 'replay', act: OneAct) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const { id } = req.params as { id: string };
    if (!isRowId(id)) return reply.code(404).send({ error: `no action with id ${id}` });
    const action = await getAction(ctx.database.sql, id);
    if (action === undefined) return reply.code(404).send({ error: `no action with id ${id}` });
    if (!mayActOn(req, action.tenant_id)) return outsideTenant(reply, action.tenant_id);
    const r = await act(ctx.database.sql, id, consoleActor(req));
    await auditAct(ctx, req, {
      action: `action.${name}`,
      target: `action ${id}`,
      outcome: r.ok ? 'ok' : 'refused',
      tenant: action.tenant_id,
      detail: r.ok ? { before: r.before } : { error: r.error },
    });
    if (wantsJson(req)) return reply.code(r.ok ? 200 : 409).send(r);
    if (!r.ok) return refuse(req, reply, '/actions', 409, r.error);
    return reply.code(303).redirect(`/actions/${id}`);
  };
}

/** The bulk replay's filter from a query string or form, limited to the user's tenant. */
function deadFilterOf(req: FastifyRequest, fields: Record<string, string>): DeadFilter {
  const text = (k: string): string | undefined => {
    const v = fields[k]?.trim();
    return v === undefined || v === '' ? undefined : textParam(k, v);
  };
  // Another tenant than the user's stays in the filter: the routes answer 403 for it.
  return {
    tenant: text('tenant') ?? tenantScope(req) ?? undefined,
    type: text('type'),
    reason: text('reason'),
    since: timeParam('since', text('since')),
    until: timeParam('until', text('until')),
  };
}

function filterFields(f: DeadFilter): Record<string, string> {
  return {
    tenant: f.tenant ?? '',
    type: f.type ?? '',
    reason: f.reason ?? '',
    since: f.since?.toISOString() ?? '',
    until: f.until?.toISOString() ?? '',
  };
}

/**
 * Cancel and replay of one action (POST /actions/:id/cancel, /actions/:id/replay), and the bulk
 * replay of dead actions by filter: GET /dead/replay counts what it would replay (the confirm
 * step), POST /dead/replay replays it. Operators only, within their tenant, audited.
 */
export function registerActionActs(app: FastifyInstance, ctx: ConsoleContext): void {
  const operator = { preHandler: requireRole('operator') };
  app.post('/actions/:id/cancel', operator, actOnOne(ctx, 'cancel', cancelAction));
  app.post('/actions/:id/replay', operator, actOnOne(ctx, 'replay', replayDead));
  app.post('/dead/messages/:id/replay', operator, async (req, reply) => {
    const { id } = req.params as { id: string };
    if (!/^\d{1,18}$/.test(id)) return reply.code(404).send({ error: `no dead message m${id}` });
    const { rows } = await ctx.database.sql.query<{ tenant_id: string | null }>(
      'SELECT tenant_id FROM dead_letters WHERE id = $1',
      [id],
    );
    if (rows[0] === undefined) return reply.code(404).send({ error: `no dead message m${id}` });
    if (!mayActOn(req, rows[0].tenant_id)) return outsideTenant(reply, rows[0].tenant_id);
    const r = await withBroker(ctx, (client) =>
      replayDeadMessage(ctx.database.sql, id, (key, body, options) =>
        client.publish(Exchanges.actions, key, body, options),
      ),
    );
    await auditAct(ctx, req, {
      action: 'dead.message.replay',
      target: `m${id}`,
      outcome: r.ok ? 'ok' : 'refused',
      tenant: rows[0].tenant_id,
      detail: r.ok ? { routing_key: r.routingKey } : { error: r.error },
    });
    if (wantsJson(req)) return reply.code(r.ok ? 200 : 409).send(r);
    if (!r.ok) return refuse(req, reply, '/dead', 409, r.error);
    return reply.code(303).redirect('/dead');
  });
  app.get('/dead/replay', operator, async (req, reply) => {
    const filter = deadFilterOf(req, (req.query ?? {}) as Record<string, string>);
    if (!mayActOn(req, filter.tenant ?? null)) return outsideTenant(reply, filter.tenant ?? null);
    const count = await countDeadMatching(ctx.database.sql, filter);
    const data = { filter: filterFields(filter), count, tenantFixed: tenantScope(req) };
    if (wantsJson(req)) return reply.send(data);
    return reply.viewAsync('dead-replay.eta', { ...chrome(req, '/dead', 'Replay dead actions'), data });
  });
  app.post('/dead/replay', operator, async (req, reply) => {
    const body = formOf(req);
    const filter = deadFilterOf(req, body);
    if (!mayActOn(req, filter.tenant ?? null)) return outsideTenant(reply, filter.tenant ?? null);
    const expected = Number(body.expected);
    const count = await countDeadMatching(ctx.database.sql, filter);
    // The confirm step showed `expected`: replay nothing if the filter now selects another number.
    if (!Number.isInteger(expected) || expected !== count) {
      const message = `the filter now selects ${count} dead action(s), not the ${body.expected ?? '(unstated)'} you confirmed: look again`;
      await auditAct(ctx, req, {
        action: 'dead.replay',
        target: 'filter',
        outcome: 'refused',
        tenant: filter.tenant,
        detail: { filter: filterFields(filter), message },
      });
      return reply.code(409).send({ error: message, count });
    }
    const n = await replayDeadMatching(ctx.database.sql, filter, consoleActor(req));
    await auditAct(ctx, req, {
      action: 'dead.replay',
      target: 'filter',
      outcome: 'ok',
      tenant: filter.tenant,
      detail: { filter: filterFields(filter), replayed: n },
    });
    if (wantsJson(req)) return reply.send({ replayed: n });
    const q = new URLSearchParams({
      state: 'pending',
      ...(filter.tenant === undefined ? {} : { tenant: filter.tenant }),
    });
    return reply.code(303).redirect(`/actions?${q.toString()}`);
  });
}
