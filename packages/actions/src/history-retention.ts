import { type Sql, type Transactor, sleep } from '@cmq/common';
import { createPartitionsAhead, droppablePartitions, dropExpiredPartitions } from './history-partitions';
import {
  type PruneCount,
  type StateRetention,
  countPrunable,
  policyRules,
  pruneRule,
  retentionOverrides,
} from './history-prune';
import { AGED_TABLES, type AgedTable, countAged, pruneAged } from './history-tables';

/** The history lease's row in sync_lease: its holder runs retention. */
export const HISTORY_LEASE = 'history';

/** The settings of retention: publisher.properties `history.*` (HistoryKeys) has this shape. */
export interface RetentionSettings {
  batch: number;
  partitions_ahead: number;
  retention: StateRetention & {
    dead_letters: number;
    audit: number;
    resource_changes: number;
  };
}

/** The retention key of each aged table. */
const TABLE_KEYS: Record<AgedTable, keyof RetentionSettings['retention']> = {
  dead_letters: 'dead_letters',
  resource_changes: 'resource_changes',
  audit_log: 'audit',
};

/** What one pass removed, or with `dryRun` would remove. */
export interface RetentionReport {
  actions: PruneCount[];
  tables: Partial<Record<AgedTable, number>>;
  partitionsCreated: number;
  partitionsDropped: string[];
}

export interface RetentionRun {
  /** Count only: remove nothing, create nothing. */
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Called between steps and between batches (the keeper renews its lease); false stops the pass. */
  stillHolding?: () => Promise<boolean>;
  /** Rest after each full batch (the keeper's history.batch_pause), so that a backlog yields to live work. */
  batchPauseMs?: number;
  /** Leave the emptied partitions (default: drop them); a benchmark times the drop apart. */
  keepPartitions?: boolean;
}

/**
 * One pass of retention: day partitions created ahead, every rule of the policy (the defaults
 * and the tenants' overrides) run batch by batch, the other history tables pruned by age, and
 * the action_events partitions left empty dropped. Non-final actions are never touched.
 */
export async function runRetention(
  sql: Sql,
  transaction: Transactor,
  settings: RetentionSettings,
  run: RetentionRun = {},
): Promise<RetentionReport> {
  const report: RetentionReport = { actions: [], tables: {}, partitionsCreated: 0, partitionsDropped: [] };
  const go = async (): Promise<boolean> => run.signal?.aborted !== true && ((await run.stillHolding?.()) ?? true);
  const afterBatch = async (): Promise<boolean> => (await sleep(run.batchPauseMs ?? 0, run.signal)) && go();
  if (!run.dryRun) report.partitionsCreated = await createPartitionsAhead(sql, settings.partitions_ahead);
  for (const rule of policyRules(settings.retention, await retentionOverrides(sql))) {
    if (!(await go())) return report;
    const count = run.dryRun
      ? { state: rule.state, tenant: rule.tenant ?? null, actions: await countPrunable(sql, rule), events: 0 }
      : await pruneRule(transaction, rule, settings.batch, run.signal, afterBatch);
    if (count.actions > 0) report.actions.push(count);
  }
  for (const table of Object.keys(AGED_TABLES) as AgedTable[]) {
    if (!(await go())) return report;
    const keep = settings.retention[TABLE_KEYS[table]];
    const n = run.dryRun
      ? await countAged(sql, table, keep)
      : await pruneAged(transaction, table, keep, settings.batch, run.signal, afterBatch);
    if (n > 0) report.tables[table] = n;
  }
  if (run.keepPartitions === true || !(await go())) return report;
  report.partitionsDropped = run.dryRun
    ? (await droppablePartitions(sql)).map((p) => p.name)
    : await dropExpiredPartitions(transaction);
  return report;
}
