import {
  RESOURCE_KIND,
  type RecordedSyncKind,
  type ResourceKind,
  type ResourceState,
  type SyncKind,
  databaseNow,
  normalizeState,
  recordSync,
} from '@cmq/actions';
import type { CallOptions, Driver } from '@cmq/drivers';
import type { CloudServices } from './account-driver';
import type { Handler, HandlerContext } from './handler';
import { withAccount } from './server-support';

/** What each kind asks the provider: [resource id, record] pairs; undefined when the driver has no such call. */
type Lister = (driver: Driver, opts: CallOptions) => Promise<Array<[string, object]>> | undefined;

const LISTERS: Record<SyncKind, Lister> = {
  servers: async (d, o) => (await d.listServers(o)).map((s) => [s.id, s]),
  firewalls: async (d, o) => (await d.listFirewalls(o)).map((f) => [f.id, f]),
  volumes: async (d, o) => (await d.listVolumes(o)).map((v) => [v.id, v]),
  // One budget record per account: the current period's spend.
  budget: (d, o) => (d.getSpend === undefined ? undefined : d.getSpend(o).then((s) => [['spend', s]])),
};

/**
 * `sync.<kind>`: asks the account's provider for its current resources of that kind, records
 * created / changed / gone ones in one transaction (see recordSync: two syncs of one account and
 * kind never record a change twice, an older answer committing later is dropped as stale) and
 * replaces the Redis cache of the latest state. Result `{created, changed, gone, total}`; a
 * driver without a budget answers sync.budget with `{supported: false}` and records nothing.
 */
function syncHandler(syncKind: SyncKind): Handler<`sync.${SyncKind}`> {
  return async (ctx) => {
    const account = ctx.args.account;
    return withAccount(ctx, account, async ({ driver }, cloud) => {
      // PostgreSQL's clock before the call: orders answers from subscribers on different hosts.
      const observedAt = await databaseNow(cloud.sql);
      const answer = LISTERS[syncKind](driver, { signal: ctx.signal });
      if (answer === undefined) return { status: 'succeeded', result: { supported: false } };
      const listed = new Map<string, ResourceState>();
      for (const [id, record] of await answer) listed.set(id, normalizeState(record));
      const result = await recordListing(ctx, cloud, {
        account,
        syncKind,
        kind: RESOURCE_KIND[syncKind],
        observedAt,
        listed,
      });
      return { status: 'succeeded', result };
    });
  };
}

export interface Listing {
  account: string;
  syncKind: RecordedSyncKind;
  kind: ResourceKind;
  /** PostgreSQL's clock before the provider was asked. */
  observedAt: Date;
  listed: ReadonlyMap<string, ResourceState>;
}

/**
 * Records what a sync listed (recordSync: created / changed / gone, one transaction, stale
 * answers dropped) and replaces the Redis cache of the latest state; the action's result.
 * The one way sync.<kind>, sync.metal and ipmi.sensors store what they saw.
 */
export async function recordListing(
  ctx: HandlerContext,
  cloud: CloudServices,
  l: Listing,
): Promise<{ created: number; changed: number; gone: number; total: number; stale?: true }> {
  const { account, syncKind, kind, observedAt, listed } = l;
  const recorded = await recordSync(cloud.transaction, {
    tenant: ctx.tenant,
    account,
    syncKind,
    kind,
    observedAt,
    listed,
    actionId: ctx.id,
  });
  if (recorded.stale) {
    ctx.logger.info(
      { account, kind: syncKind },
      'a newer sync of this account and kind was recorded first; this answer was dropped',
    );
    return { created: 0, changed: 0, gone: 0, total: recorded.total, stale: true };
  }
  if (!(await ctx.redis.resources.replace(ctx.tenant, account, kind, observedAt, listed))) {
    ctx.logger.debug(
      { account, kind: syncKind },
      'the Redis cache holds a newer answer (or the account was removed); left as it is',
    );
  }
  const { created, changed, gone, total } = recorded;
  if (created + changed + gone > 0)
    ctx.logger.info({ account, kind: syncKind, created, changed, gone, total }, 'cloud resources changed');
  return { created, changed, gone, total };
}

export const syncServers = syncHandler('servers');
export const syncFirewalls = syncHandler('firewalls');
export const syncVolumes = syncHandler('volumes');
export const syncBudget = syncHandler('budget');
