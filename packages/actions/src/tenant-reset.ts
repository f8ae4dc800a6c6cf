import { FINAL_STATES, type Sql, type Transactor } from '@cmq/common';
import { type FinalState, type PruneCount, countPrunable, pruneRule } from './history-prune';

/** A tenant's job stats reset: its final actions finished before `before` (never running or waiting ones). */
export interface TenantReset {
  tenant: string;
  before: Date;
  /** Rows per transaction (publisher.properties history.batch for the CLI). */
  batch: number;
  /** Count only. */
  dryRun: boolean;
}

/**
 * Counts (dry run) or removes a tenant's final history older than a date, state by state, with
 * their events: `cmq history prune --tenant T --before DATE` and the console's reset. On a
 * failure the counts so far come back with the error (the caller audits both).
 */
export async function resetTenantHistory(
  sql: Sql,
  transaction: Transactor,
  reset: TenantReset,
): Promise<{ counts: PruneCount[]; error?: Error }> {
  const { tenant, before, batch, dryRun } = reset;
  const counts: PruneCount[] = [];
  try {
    for (const state of FINAL_STATES as readonly FinalState[]) {
      const rule = { state, tenant, before };
      counts.push(
        dryRun
          ? { state, tenant, actions: await countPrunable(sql, rule), events: 0 }
          : await pruneRule(transaction, rule, batch),
      );
    }
  } catch (err) {
    return { counts, error: err instanceof Error ? err : new Error(String(err)) };
  }
  return { counts };
}
