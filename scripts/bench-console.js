#!/usr/bin/env node
// @ts-check
/**
 * The console benchmark (`node scripts/bench-console.js [--actions N] [--samples S]
 * [--minutes M] [--streams K] [--json]`): a script, not a test. Run `npm run build` first. On the
 * local PostgreSQL, Redis and RabbitMQ, on a database of its own:
 *   1. fills N finished actions (default 1,000,000) with 4 events each over 30 days across 10
 *      tenants, in SQL (scripts/bench-history-fill.js), plus 3 hours of pinger history;
 *   2. starts the built cmq-console and measures p50/p99 (S samples, default 50, over HTTP with
 *      an API token) of: the overview, the filtered actions list (tenant + state) first page and
 *      page 500 by keyset, one action, the tenant stats;
 *   3. opens K live streams (default 20) and, for M minutes (default 10), inserts action events
 *      continuously (about 200/s), sampling the console's RSS every 10 s: it must not grow.
 * The database is removed afterwards.
 */
'use strict';
const { execFileSync, spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { mkdtempSync, readFileSync, writeFileSync, rmSync } = require('node:fs');
const { request } = require('node:http');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { Pool } = require('pg');
const { addUser, createApiToken } = require('@cmq/actions');
const { fillHistory } = require('./bench-history-fill');

const ROOT = join(__dirname, '..');
const args = process.argv.slice(2);
const opt = (/** @type {string} */ name, /** @type {number} */ dflt) =>
  args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt;
const N = opt('--actions', 1_000_000);
const SAMPLES = opt('--samples', 50);
const MINUTES = opt('--minutes', 10);
const STREAMS = opt('--streams', 20);
const JSON_OUT = args.includes('--json');
const PORT = 18_000 + Math.floor(Math.random() * 1000);
const database = `cmq_benchcon_${randomBytes(4).toString('hex')}`;
const say = (/** @type {string} */ m) => {
  if (!JSON_OUT) process.stderr.write(`bench-console: ${m}\n`);
};
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/** GET `path` with the token; resolves with the status once the whole body came. */
function get(/** @type {string} */ path, /** @type {string} */ token) {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: PORT, path, headers: { authorization: `Bearer ${token}` } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** p50/p99 in ms of GET `path`, `SAMPLES` times (after one warm-up). */
async function timed(/** @type {string} */ path, /** @type {string} */ token) {
  const first = /** @type {{status: number, body: string}} */ (await get(path, token));
  if (first.status !== 200) throw new Error(`GET ${path}: ${first.status} ${first.body.slice(0, 200)}`);
  const ms = [];
  for (let i = 0; i < SAMPLES; i += 1) {
    const t = process.hrtime.bigint();
    await get(path, token);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  const at = (/** @type {number} */ q) =>
    Number((ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0).toFixed(1));
  return { p50_ms: at(0.5), p99_ms: at(0.99) };
}

function rssMiB(/** @type {number} */ pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

/** Opens a live stream and keeps reading it; resolves with a counter of the events received. */
function stream(/** @type {string} */ token) {
  const seen = { events: 0 };
  const req = request(
    { host: '127.0.0.1', port: PORT, path: '/api/live', headers: { authorization: `Bearer ${token}` } },
    (res) => {
      res.setEncoding('utf8');
      res.on('data', (/** @type {string} */ d) => (seen.events += (d.match(/^event: action$/gm) ?? []).length));
    },
  );
  req.on('error', () => undefined);
  req.end();
  return { seen, req };
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'cmq-bench-console-'));
  const own = [`log.dir=${join(dir, 'log')}`, `metrics.dir=${join(dir, 'metrics')}`, 'log.level=warn'];
  writeFileSync(join(dir, 'worker.properties'), `db.database=${database}\n`);
  writeFileSync(join(dir, 'persistence.properties'), 'redis.db=11\n');
  writeFileSync(join(dir, 'console.properties'), [...own, `console.listen=127.0.0.1:${PORT}`].join('\n') + '\n');
  execFileSync(
    process.execPath,
    [join(ROOT, 'packages/cli/dist/main.js'), 'migrate', '--create-database', '--config-dir', dir],
    { stdio: 'pipe' },
  );
  const pool = new Pool({ host: '127.0.0.1', user: 'postgres', database, max: 4 });
  let consoleProc;
  try {
    let t = Date.now();
    say(`filling ${N} actions with 4 events each over 30 days`);
    await fillHistory(pool, { actions: N, eventsPer: 4, days: 30, tenants: 10, say });
    await pool.query(
      `INSERT INTO pinger_history (at, pinger, summary)
       SELECT now() - s * interval '10 seconds', 'pinger:bench', jsonb_build_object('at', now() - s * interval '10 seconds',
         'dead_last_interval', (random() * 3)::int, 'families', jsonb_build_object(
           'monitor', jsonb_build_object('backlog', (random() * 50)::int, 'canary', jsonb_build_object('latency_ms', (random() * 300)::int)),
           'provision', jsonb_build_object('backlog', (random() * 50)::int, 'canary', jsonb_build_object('latency_ms', (random() * 300)::int))))
       FROM generate_series(0, 1079) s`,
    );
    await pool.query('ANALYZE');
    const fillS = (Date.now() - t) / 1000;
    say(`filled in ${fillS.toFixed(0)} s`);
    await addUser(pool, { name: 'bench', role: 'admin', tenant: null, password: 'bench password 1' });
    const token = await createApiToken(pool, 'bench');

    consoleProc = spawn(process.execPath, [join(ROOT, 'services/console/dist/main.js'), '--config-dir', dir], {
      stdio: 'ignore',
    });
    for (let i = 0; i < 100; i += 1) {
      const r = /** @type {{status: number}} */ (await get('/api/overview', token).catch(() => ({ status: 0 })));
      if (r.status === 200) break;
      await sleep(200);
    }
    const one = await pool.query("SELECT max(id)::text AS id FROM actions WHERE tenant_id = 'hist-3'");
    const cursor = await pool.query(
      "SELECT id::text FROM actions WHERE tenant_id = 'hist-3' AND state = 'succeeded' ORDER BY id DESC OFFSET $1 LIMIT 1",
      [500 * 50 - 1],
    );
    const filtered = '/api/actions?tenant=hist-3&state=succeeded';
    const latency = {
      overview: await timed('/api/overview', token),
      actions_filtered_first_page: await timed(filtered, token),
      actions_filtered_page_500: await timed(`${filtered}&before=${cursor.rows[0]?.id ?? '1'}`, token),
      one_action: await timed(`/api/actions/${one.rows[0]?.id ?? '1'}`, token),
      tenant_stats: await timed('/api/tenants', token),
    };
    say(`latency: ${JSON.stringify(latency)}`);

    say(`${STREAMS} live streams, events inserted for ${MINUTES} min`);
    const streams = Array.from({ length: STREAMS }, () => stream(token));
    const pid = /** @type {number} */ (consoleProc.pid);
    const rss = [{ s: 0, mib: rssMiB(pid) }];
    const ids = (
      await pool.query("SELECT id::text FROM actions WHERE tenant_id = 'hist-1' ORDER BY id DESC LIMIT 1000")
    ).rows.map((r) => r.id);
    const end = Date.now() + MINUTES * 60_000;
    t = Date.now();
    let inserted = 0;
    let nextSample = Date.now() + 10_000;
    while (Date.now() < end) {
      await pool.query(
        "INSERT INTO action_events (action_id, from_state, to_state, actor, reason) SELECT unnest($1::bigint[]), 'running', 'succeeded', 'bench', NULL",
        [ids.slice(0, 20)],
      );
      ids.push(...ids.splice(0, 20));
      inserted += 20;
      await sleep(100);
      if (Date.now() >= nextSample) {
        rss.push({ s: Math.round((Date.now() - t) / 1000), mib: rssMiB(pid) });
        nextSample += 10_000;
      }
    }
    const received = streams.reduce((n, s) => n + s.seen.events, 0);
    for (const s of streams) s.req.destroy();
    const result = {
      actions: N,
      events: N * 4,
      fill_s: Math.round(fillS),
      samples: SAMPLES,
      latency,
      live: { minutes: MINUTES, streams: STREAMS, events_inserted: inserted, events_delivered: received, rss_mib: rss },
    };
    if (JSON_OUT) process.stdout.write(`${JSON.stringify(result)}\n`);
    else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    consoleProc?.kill('SIGTERM');
    await pool.end();
    const admin = new Pool({ host: '127.0.0.1', user: 'postgres', database: 'postgres', max: 1 });
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench-console: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
