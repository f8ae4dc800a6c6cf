import { type DeadEntry, type DeadGroup, deadGroups, listDead } from '@cmq/actions';
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { queryOf, textParam } from '../query-params';
import { scopedTenant } from '../scope';

export interface DeadView {
  tenant: string | null;
  groups: DeadGroup[];
  latest: DeadEntry[];
}

/** GET /dead and /api/dead: dead actions and dead messages grouped by reason and tenant, then the latest. */
export function registerDead(app: FastifyInstance, ctx: ConsoleContext): void {
  view<DeadView>(app, '/dead', 'dead', 'Dead', async (req) => {
    const tenant = scopedTenant(req, textParam('tenant', queryOf(req).tenant, 63));
    const sql = ctx.database.sql;
    const [groups, latest] = await Promise.all([
      deadGroups(sql, tenant),
      listDead(sql, { tenant: tenant ?? undefined, limit: ctx.config.own.console.page_size }),
    ]);
    return { tenant, groups, latest };
  });
}
