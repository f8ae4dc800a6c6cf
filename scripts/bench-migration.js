#!/usr/bin/env node
// @ts-check
/**
 * Migration 017 over a populated installation, with writes going on (`node
 * scripts/bench-migration.js [--actions N] [--events-per K] [--interval-ms I] [--keep] [--json]`):
 * a script, not a test. Run `npm run build` first. On the local PostgreSQL, in a database of its
 * own (removed afterwards unless --keep), it
 *   1. builds an installation at 016 holding N finished actions (default 2,500,000) with K events
 *      each (default 4: 10,000,000 events), generated in SQL (scripts/bench-history-fill.js);
 *   2. runs `cmq migrate`'s runner to the latest version while a writer, as a service of the
 *      previous release would, inserts one action and one action_event every I ms (default 10);
 *   3. prints the migration's time in all and per step (online steps, transactional part), the
 *      longest time any write waited (and its p99), the writes that failed, the time the
 *      transactional part held action_events locked, the load average, and checks that every
 *      filled and written row is there.
 */
'use strict';
const { cpSync, mkdtempSync, readdirSync, rmSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
const { loadavg, tmpdir } = require('node:os');
const { join } = require('node:path');
const { setTimeout: delay } = require('node:timers/promises');
const { performance } = require('node:perf_hooks');
const { Client, Pool } = require('pg');
const { MIGRATIONS_DIR, listMigrations, migrate } = require('@cmq/common');
const { fillHistory } = require('./bench-history-fill');

const args = process.argv.slice(2);
const opt = (/** @type {string} */ name, /** @type {number} */ dflt) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt;
const N = opt('--actions', 2_500_000);
const EVENTS_PER = opt('--events-per', 4);
const INTERVAL_MS = opt('--interval-ms', 10);
const JSON_OUT = args.includes('--json');
const database = `cmq_benchmig_${randomBytes(4).toString('hex')}`;
const conn = { host: '127.0.0.1', port: 5432, user: 'postgres', password: '', database };
const say = (/** @type {string} */ m) => {
  if (!JSON_OUT) process.stderr.write(`bench-migration: ${m}\n`);
};
const secs = (/** @type {number} */ ms) => Number((ms / 1000).toFixed(2));

/** The shipped migrations up to 016 in a directory of their own: the release before 017. */
function migrationsUpTo16() {
  const dir = mkdtempSync(join(tmpdir(), 'cmq-bench-016-'));
  for (const f of readdirSync(MIGRATIONS_DIR)) {
    const m = /^(\d+)_.*\.sql$/.exec(f);
    if (m && Number(m[1]) <= 16) cpSync(join(MIGRATIONS_DIR, f), join(dir, f));
  }
  return dir;
}

/** The first statement line of a migration part: what the step table calls it. */
function label(/** @type {number} */ version, /** @type {number} */ line) {
  const part = listMigrations()
    .find((m) => m.version === version)
    ?.parts.find((p) => p.line === line);
  const first = part?.sql.split('\n').find((l) => l.trim() !== '' && !l.trim().startsWith('--')) ?? '';
  return first.trim().slice(0, 70);
}

/**
 * Inserts an action and its event every `INTERVAL_MS` as a subscriber of the previous release
 * would (each its own autocommit statement), timing every statement. A write held up by a lock
 * shows as one long statement; the writes due meanwhile go at once after it.
 */
function writer() {
  const c = new Client(conn);
  c.on('error', () => undefined);
  const state = {
    waits: /** @type {number[]} */ ([]),
    /** When each write started and ended (ms, performance.now()). */
    timeline: /** @type {[number, number][]} */ ([]),
    failures: /** @type {string[]} */ ([]),
    ids: /** @type {string[]} */ ([]),
  };
  let running = true;
  const timed = async (/** @type {string} */ text, /** @type {unknown[]} */ values) => {
    const t = performance.now();
    try {
      return await c.query(text, values);
    } finally {
      const end = performance.now();
      state.waits.push(end - t);
      state.timeline.push([t, end]);
    }
  };
  const loop = (async () => {
    await c.connect();
    const start = performance.now();
    for (let k = 0; running; k += 1) {
      try {
        const a = await timed(
          "INSERT INTO actions (tenant_id, type, family) VALUES ('hist-0', 'noop', 'control') RETURNING id::text AS id",
          [],
        );
        const id = a.rows[0].id;
        await timed("INSERT INTO action_events (action_id, to_state, actor) VALUES ($1, 'pending', 'bench-writer')", [
          id,
        ]);
        state.ids.push(id);
      } catch (err) {
        state.failures.push(/** @type {Error} */ (err).message);
      }
      const next = start + (k + 1) * INTERVAL_MS;
      const now = performance.now();
      if (next > now) await delay(next - now);
    }
    await c.end();
  })();
  return {
    state,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

async function main() {
  const admin = new Client({ ...conn, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const pool = new Pool({ ...conn, max: 4 });
  pool.on('error', () => undefined);
  const dir16 = migrationsUpTo16();
  try {
    await migrate(pool, dir16);
    const t0 = Date.now();
    await fillHistory(pool, { actions: N, eventsPer: EVENTS_PER, days: 30, tenants: 10, say });
    const fillS = secs(Date.now() - t0);
    const sizes = await pool.query(
      `SELECT (SELECT count(*) FROM action_events)::bigint AS events, (SELECT count(*) FROM actions)::bigint AS actions,
              pg_size_pretty(pg_total_relation_size('action_events')) AS events_size,
              pg_size_pretty(pg_total_relation_size('actions')) AS actions_size`,
    );
    say(`filled in ${fillS} s: ${JSON.stringify(sizes.rows[0])}`);
    const loadBefore = loadavg();
    const w = writer();
    await delay(1000);
    const steps =
      /** @type {{ version: number, kind: string, step: string, s: number, from: number, to: number }[]} */ ([]);
    const m0 = performance.now();
    await migrate(pool, undefined, {
      onStep: (s) => {
        const end = performance.now();
        steps.push({
          version: s.version,
          kind: s.kind,
          step: label(s.version, s.line),
          s: secs(s.ms),
          from: end - s.ms,
          to: end,
        });
        say(`${s.version} ${s.kind} ${secs(s.ms)} s  ${label(s.version, s.line)}`);
      },
    });
    const totalS = secs(performance.now() - m0);
    await delay(1000);
    await w.stop();
    const loadAfter = loadavg();
    const waits = [...w.state.waits].sort((a, b) => a - b);
    // The longest write that overlapped each step (one held up across two steps counts in both).
    const byStep = steps.map(({ from, to, ...rest }) => ({
      ...rest,
      write_wait_max_ms: Number(
        Math.max(
          0,
          ...w.state.timeline.filter(([t, end]) => end >= from && t <= to).map(([t, end]) => end - t),
        ).toFixed(1),
      ),
    }));
    const found = await pool.query(
      `SELECT (SELECT count(*)::int FROM actions WHERE id = ANY($1::bigint[])) AS actions,
              (SELECT count(*)::int FROM action_events WHERE actor = 'bench-writer') AS events,
              (SELECT count(*) FROM action_events WHERE actor <> 'bench-writer')::bigint AS filled_events`,
      [w.state.ids],
    );
    const s17 = steps.filter((s) => s.version === 17);
    const result = {
      actions: N,
      events: N * EVENTS_PER,
      fill_s: fillS,
      migration_017_s: secs(s17.reduce((a, s) => a + s.s * 1000, 0)),
      migration_all_s: totalS,
      steps: byStep,
      exclusive_lock_s: s17.filter((s) => s.kind === 'transaction').reduce((a, s) => a + s.s, 0),
      writes: waits.length,
      write_wait_max_ms: Number((waits.at(-1) ?? 0).toFixed(1)),
      write_wait_p99_ms: Number((waits[Math.floor(0.99 * (waits.length - 1))] ?? 0).toFixed(1)),
      write_failures: w.state.failures,
      written: w.state.ids.length,
      written_found: found.rows[0],
      loadavg_before: loadBefore.map((x) => Number(x.toFixed(2))),
      loadavg_after: loadAfter.map((x) => Number(x.toFixed(2))),
    };
    process.stdout.write(`${JSON.stringify(result, null, JSON_OUT ? 0 : 2)}\n`);
  } finally {
    await pool.end();
    rmSync(dir16, { recursive: true, force: true });
    if (!args.includes('--keep')) await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    else say(`kept database ${database}`);
    await admin.end();
  }
}

main().catch((err) => {
  process.stderr.write(`bench-migration: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
