import { type Tenant, type TenantStats, listTenants, tenantStats } from '@cmq/actions';
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { scopedTenant } from '../scope';

export interface TenantsView {
  tenants: Array<Tenant & { stats: TenantStats | null }>;
}

/** GET /tenants and /api/tenants: per tenant, actions by state, throughput, durations, failure and dead rates. */
export function registerTenants(app: FastifyInstance, ctx: ConsoleContext): void {
  view<TenantsView>(app, '/tenants', 'tenants', 'Tenants', async (req) => {
    const scope = scopedTenant(req, undefined);
    const sql = ctx.database.sql;
    const [all, stats] = await Promise.all([listTenants(sql), tenantStats(sql, scope)]);
    const byTenant = new Map(stats.map((s) => [s.tenant, s]));
    const tenants = all.filter((t) => scope === null || t.id === scope);
    return { tenants: tenants.map((t) => ({ ...t, stats: byTenant.get(t.id) ?? null })) };
  });
}
