#!/usr/bin/env node
// @ts-check
/**
 * The history benchmark (`node scripts/bench-history.js [--actions N] [--events-per K]
 * [--bench-actions M] [--samples S] [--no-e2e] [--json]`): a script, not a test. Run
 * `npm run build` first. On the local PostgreSQL (and, for the end-to-end part, RabbitMQ and
 * Redis) it measures, on a database of its own:
 *   1. p50/p99 of the statements of `cmq actions --tenant T`, `cmq actions show ID`,
 *      `cmq status` (without Redis: its database part) and the console's actions list (a page
 *      and its capped count), each sample on a new connection as every `cmq` run opens one
 *      (node's own start-up, ~0.3 s, is left out: it does not grow with history), first on
 *      empty tables, then after filling N finished actions (default 5,000,000) with K events
 *      each (default 4) over 30 days, generated in SQL (scripts/bench-history-fill.js);
 *   2. one retention pass that removes one day of history (retention set to 29 days): its
 *      time, the time of the partition drop alone, and the table sizes before and after;
 *   3. unless --no-e2e, `npm run bench`'s end-to-end actions/s for M noop actions (default
 *      20,000) on empty tables, behind the same history kept (`scripts/bench.js --history N`),
 *      and behind it under the shipped retention, the history keeper removing most of it during
 *      the run (`--history-expired`).
 * The database is removed afterwards.
 */
'use strict';
const { execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { join } = require('node:path');
const { Client, Pool } = require('pg');
const {
  getAction,
  actionEvents,
  listActions,
  countActions,
  historyStats,
  runRetention,
  dropExpiredPartitions,
} = require('@cmq/actions');
const { migrate } = require('@cmq/common');
const { familyLoads, tenantStates } = require('../packages/cli/dist/status-queries');
const { fillHistory } = require('./bench-history-fill');

const ROOT = join(__dirname, '..');
const args = process.argv.slice(2);
const opt = (/** @type {string} */ name, /** @type {number} */ dflt) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt;
const N = opt('--actions', 5_000_000);
const EVENTS_PER = opt('--events-per', 4);
const BENCH_N = opt('--bench-actions', 20_000);
const SAMPLES = opt('--samples', 50);
const JSON_OUT = args.includes('--json');
const database = `cmq_benchhist_${randomBytes(4).toString('hex')}`;
const conn = { host: '127.0.0.1', port: 5432, user: 'postgres', password: '', database };
const say = (/** @type {string} */ m) => {
  if (!JSON_OUT) process.stderr.write(`bench-history: ${m}\n`);
};
const DAY = 86_400_000;

/** p50 and p99 in ms of `fn` run `SAMPLES` times, each on a new connection. */
async function timed(/** @type {(c: import('pg').Client) => Promise<unknown>} */ fn) {
  const ms = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const t = process.hrtime.bigint();
    const c = new Client(conn);
    await c.connect();
    try {
      await fn(c);
    } finally {
      await c.end();
    }
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (/** @type {number} */ q) =>
    Number((ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0).toFixed(1));
  return { p50_ms: at(0.5), p99_ms: at(0.99) };
}

/** The operator's queries, each as its command runs it. */
async function queries(/** @type {import('pg').Pool} */ pool) {
  const some = await pool.query("SELECT max(id)::text AS id FROM actions WHERE tenant_id = 'hist-3'");
  const id = some.rows[0]?.id ?? '1';
  return {
    actions_tenant: await timed((c) => listActions(c, { tenant: 'hist-3', limit: 50 })),
    actions_show: await timed(async (c) => [await getAction(c, id), await actionEvents(c, id)]),
    status: await timed(async (c) => [await familyLoads(c), await tenantStates(c)]),
    console_actions_list: await timed((c) =>
      Promise.all([listActions(c, { tenant: 'hist-3', limit: 51 }), countActions(c, { tenant: 'hist-3' }, 10_000)]),
    ),
  };
}

/** Table sizes, the parent tables only (partitions summed into action_events). */
async function sizes(/** @type {import('pg').Pool} */ pool) {
  const stats = await historyStats(pool);
  return Object.fromEntries(
    stats
      .filter((s) => s.partitionOf === null)
      .map((s) => [s.table, { rows: s.rows, mb: +(s.bytes / 2 ** 20).toFixed(1) }]),
  );
}

/** One retention pass removing the oldest day (retention 29 days for every final state). */
async function pruneOneDay(/** @type {import('pg').Pool} */ pool) {
  const keep = 29 * DAY;
  const settings = {
    batch: 1_000,
    partitions_ahead: 7,
    retention: {
      succeeded: keep,
      cancelled: keep,
      failed: keep,
      dead: keep,
      expired: keep,
      rejected: keep,
      dead_letters: keep,
      audit: keep,
      resource_changes: keep,
    },
  };
  const transaction = async (/** @type {(sql: any) => Promise<any>} */ fn) => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const out = await fn(c);
      await c.query('COMMIT');
      return out;
    } catch (err) {
      await c.query('ROLLBACK');
      throw err;
    } finally {
      c.release();
    }
  };
  const before = await sizes(pool);
  let t = Date.now();
  // The row deletes first, then the drop of the emptied day partitions alone, timed apart.
  const report = await runRetention(pool, transaction, settings, { keepPartitions: true });
  const passMs = Date.now() - t;
  await pool.query('VACUUM ANALYZE actions');
  t = Date.now();
  const dropped = await dropExpiredPartitions(transaction);
  const dropMs = Date.now() - t;
  const after = await sizes(pool);
  const removed = report.actions.reduce((n, c) => n + c.actions, 0);
  const events = report.actions.reduce((n, c) => n + c.events, 0);
  return {
    pass_ms: passMs,
    actions_removed: removed,
    events_removed: events,
    drop_ms: dropMs,
    partitions_dropped: dropped,
    sizes_before: before,
    sizes_after: after,
  };
}

/** `scripts/bench.js --json` with or without history; its end-to-end actions/s. */
function e2e(/** @type {number} */ history, /** @type {string[]} */ extra = []) {
  const out = execFileSync(
    process.execPath,
    [
      join(ROOT, 'scripts/bench.js'),
      '--json',
      '--raw',
      '2000',
      '--actions',
      String(BENCH_N),
      ...(history > 0 ? ['--history', String(history)] : []),
      ...extra,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 24 },
  );
  const r = JSON.parse(out.trim().split('\n').at(-1) ?? '{}');
  return r.actions_per_second ?? r;
}

async function main() {
  const admin = new Pool({ host: '127.0.0.1', user: 'postgres', database: 'postgres', max: 1 });
  await admin.query(`CREATE DATABASE ${database}`);
  const pool = new Pool({ ...conn, max: 4 });
  pool.on('error', () => undefined);
  const result = /** @type {Record<string, unknown>} */ ({ actions: N, events: N * EVENTS_PER });
  try {
    await migrate(pool);
    await pool.query("INSERT INTO tenants (id, name) VALUES ('hist-3', 'history 3')");
    await pool.query(
      "INSERT INTO actions (tenant_id, type, family) SELECT 'hist-3', 'noop', 'control' FROM generate_series(1, 10)",
    );
    say('queries on empty tables');
    result.queries_empty = await queries(pool);
    say(`filling ${N} actions, ${N * EVENTS_PER} events`);
    const t = Date.now();
    await fillHistory(pool, { actions: N, eventsPer: EVENTS_PER, say });
    result.fill_s = Math.round((Date.now() - t) / 1000);
    say('queries behind history');
    result.queries_history = await queries(pool);
    say('pruning one day');
    result.prune_one_day = await pruneOneDay(pool);
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
  // The database part is printed first: an end-to-end run that fails must not lose it.
  say(JSON.stringify(result));
  if (!args.includes('--no-e2e')) {
    say(`end-to-end, ${BENCH_N} noop actions, empty tables`);
    result.e2e_empty_actions_per_second = e2e(0);
    say(`end-to-end, ${BENCH_N} noop actions, behind ${N} actions of history`);
    result.e2e_history_actions_per_second = e2e(N);
    say(`end-to-end, ${BENCH_N} noop actions, behind ${N} actions, the keeper removing the expired ones`);
    result.e2e_history_expired_actions_per_second = e2e(N, ['--history-expired']);
  }
  process.stdout.write(`${JSON.stringify(result, null, JSON_OUT ? undefined : 2)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench-history: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
