import {
  type AccountInfo,
  type ChangeRow,
  type GuestInfo,
  type NodeInfo,
  type ProbeResult,
  type ResourceRow,
  latestProbesOfAll,
  listAccounts,
  listChanges,
  listGuests,
  listNodes,
  listResources,
  listTenants,
} from '@cmq/actions';
import type { FastifyInstance } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { queryOf, textParam } from '../query-params';
import { scopedTenant } from '../scope';

/** The node fields the page shows (its commands stay in `cmq nodes show`). */
type NodeView = Pick<
  NodeInfo,
  | 'name'
  | 'address'
  | 'port'
  | 'user'
  | 'host_key_fingerprint'
  | 'active'
  | 'last_action'
  | 'last_exit_code'
  | 'last_at'
>;

export interface CloudView {
  tenant: string | null;
  tenants: string[];
  /** Never a credential: AccountInfo has none. */
  accounts: AccountInfo[];
  guests: GuestInfo[];
  /** Platform hosts: shown to principals not bound to a tenant only. */
  nodes: NodeView[] | null;
  /** Resources and changes of the chosen tenant (none chosen: empty). */
  resources: ResourceRow[];
  changes: ChangeRow[];
  probes: ProbeResult[];
}

/** GET /cloud and /api/cloud: accounts, guests with pinned host keys, nodes, resources, changes, latest probes. */
export function registerCloud(app: FastifyInstance, ctx: ConsoleContext): void {
  view<CloudView>(app, '/cloud', 'cloud', 'Cloud & hosts', async (req) => {
    const bound = req.principal?.tenant ?? null;
    const tenant = scopedTenant(req, textParam('tenant', queryOf(req).tenant, 63));
    const sql = ctx.database.sql;
    const all = bound === null ? (await listTenants(sql)).map((t) => t.id) : [bound];
    const known = tenant !== null && all.includes(tenant);
    const [accounts, guests, nodes, probes, resources, changes] = await Promise.all([
      listAccounts(sql, tenant ?? undefined),
      listGuests(sql, tenant ?? undefined),
      bound === null ? listNodes(sql) : Promise.resolve(null),
      latestProbesOfAll(sql, tenant),
      known ? listResources(sql, { tenant }) : Promise.resolve([]),
      known ? listChanges(sql, { tenant, limit: 100 }) : Promise.resolve([]),
    ]);
    return {
      tenant,
      tenants: all,
      accounts,
      guests,
      nodes:
        nodes?.map((n) => ({
          name: n.name,
          address: n.address,
          port: n.port,
          user: n.user,
          host_key_fingerprint: n.host_key_fingerprint,
          active: n.active,
          last_action: n.last_action,
          last_exit_code: n.last_exit_code,
          last_at: n.last_at,
        })) ?? null,
      resources,
      changes: changes.reverse(),
      probes,
    };
  });
}
