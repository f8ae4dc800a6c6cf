#!/usr/bin/env node
// @ts-check
/**
 * The pipeline benchmark (`npm run bench [-- --actions N] [-- --json]`): a script, not a test.
 * On the local RabbitMQ, PostgreSQL and Redis it measures, in one run:
 *   1. the raw amqplib ceiling: publish with confirms + consume with acks on a quorum queue,
 *      no database;
 *   2. end-to-end actions/s: N noop actions submitted in bulk (intake batches of 5,000) until
 *      every one is final, through the built publisher and subscriber, every state durable in
 *      PostgreSQL;
 *   3. p50/p99 latency of a single action under that load (probe actions of another tenant,
 *      one every 20 ms, submission to final state);
 *   4. the subscriber's peak RSS (VmHWM).
 * Each run uses its own database and vhost and removes them afterwards.
 */
'use strict';
const { spawn, execFileSync } = require('node:child_process');
const { randomBytes } = require('node:crypto');
const { mkdtempSync, readFileSync, writeFileSync, rmSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const amqp = require('amqplib');
const { Pool } = require('pg');
const { insertActions, parseRequest } = require('@cmq/actions');
const { withTransaction } = require('@cmq/common');

const ROOT = join(__dirname, '..');
const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
const N = Number(args[args.indexOf('--actions') + 1]) || 30_000;
const RAW_N = Number(args[args.indexOf('--raw') + 1]) || 50_000;
const suffix = randomBytes(4).toString('hex');
const database = `cmq_bench_${suffix}`;
const vhost = `cmq-bench-${suffix}`;
const say = (/** @type {string} */ m) => { if (!JSON_OUT) process.stderr.write(`bench: ${m}\n`); };
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const rabbitmqctl = (/** @type {string[]} */ ...a) => execFileSync('rabbitmqctl', ['-q', ...a], { stdio: 'pipe' });

/** Publishes `count` messages with confirms while one consumer acks them; returns msgs/s. */
async function rawCeiling(count) {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost)}`);
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  const queue = 'bench.raw';
  await pub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await sub.prefetch(500);
  let consumed = 0;
  /** @type {() => void} */ let done = () => undefined;
  const finished = new Promise((r) => { done = () => r(undefined); });
  const body = Buffer.from(JSON.stringify({ id: '123456', tenant: 'bench', type: 'noop', args: {} }));
  const started = process.hrtime.bigint();
  await sub.consume(queue, (m) => { if (m) { sub.ack(m); consumed += 1; if (consumed === count) done(); } });
  for (let i = 0; i < count; i += 1) {
    if (!pub.sendToQueue(queue, body, { persistent: true })) await new Promise((r) => pub.once('drain', r));
    if (i % 1000 === 999) await pub.waitForConfirms();
  }
  await pub.waitForConfirms();
  await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await conn.close();
  return count / seconds;
}

function writeConfig(dir) {
  const files = {
    'worker.properties': `db.database=${database}\ndb.pool.max=8\n`,
    'mq.cfg': `amqp.vhost=${vhost}\n`,
    'publisher.properties': `log.dir=${dir}/log\nrelay.batch_size=2000\nrelay.window=4000\nrelay.tenant_cap=4000\nrelay.sweep_interval=50ms\n`,
    'subscriber.properties': `log.dir=${dir}/log\nconcurrency=500\nprefetch=1000\n`,
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
}

function start(service, dir) {
  const child = spawn(process.execPath, [join(ROOT, `services/${service}/dist/main.js`), '--config-dir', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

async function waitRunning(dir, file) {
  for (let i = 0; i < 300; i += 1) {
    try { if (readFileSync(join(dir, 'log', file), 'utf8').includes('"msg":"state running"')) return; } catch { /* not yet */ }
    await sleep(100);
  }
  throw new Error(`${file} never said it was running`);
}

function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

const pct = (/** @type {number[]} */ xs, /** @type {number} */ p) => xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

async function main() {
  execFileSync(join(ROOT, 'scripts/setup-deps.sh'), { stdio: JSON_OUT ? 'ignore' : 'inherit' });
  rabbitmqctl('add_vhost', vhost);
  rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  const dir = mkdtempSync(join(tmpdir(), 'cmq-bench-'));
  writeConfig(dir);
  execFileSync(process.execPath, [join(ROOT, 'packages/cli/dist/main.js'), 'migrate', '--create-database', '--config-dir', dir], { stdio: 'ignore' });
  const pool = new Pool({ host: '127.0.0.1', user: 'postgres', database, max: 4 });
  pool.on('error', () => undefined);
  const children = [];
  try {
    say(`raw amqplib ceiling: ${RAW_N} messages, quorum queue, confirms + acks`);
    const raw = await rawCeiling(RAW_N);
    await pool.query("INSERT INTO tenants (id, name) VALUES ('bench', 'bench'), ('probe', 'probe')");
    const submit = (reqs) => insertActions((fn) => withTransaction(pool, fn), reqs.map((r) => { const p = parseRequest(r); if (!p.ok) throw new Error(p.error); return p.request; }), 'bench');

    children.push(start('publisher', dir), start('subscriber', dir));
    await Promise.all([waitRunning(dir, 'publisher-main.log'), waitRunning(dir, 'subscriber-default.log')]);
    say(`pipeline: ${N} noop actions submitted in bulk`);
    const xacts = async () => Number((await pool.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0].xact_commit);
    const x0 = await xacts();
    const t0 = Date.now();
    let probing = true;
    const probes = (async () => { while (probing) { await submit([{ type: 'noop', tenant: 'probe' }]); await sleep(20); } })();
    for (let i = 0; i < N; i += 5_000) await submit(Array.from({ length: Math.min(5_000, N - i) }, () => ({ type: 'noop', tenant: 'bench' })));
    const submittedMs = Date.now() - t0;
    for (;;) {
      const { rows } = await pool.query("SELECT count(*)::int AS n FROM actions WHERE tenant_id = 'bench' AND state NOT IN ('succeeded','failed','dead','expired','cancelled','rejected')");
      if (rows[0].n === 0) break;
      await sleep(250);
    }
    // The poll above is coarse (it scans the table); the last commit time is exact.
    const last = await pool.query("SELECT max(finished_at) AS t FROM actions WHERE tenant_id = 'bench'");
    const elapsed = (new Date(last.rows[0].t).getTime() - t0) / 1000;
    const transactions = (await xacts()) - x0;
    probing = false;
    await probes;
    const rss = peakRss(/** @type {number} */ (children[1].pid));
    const { rows: lat } = await pool.query("SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM actions WHERE tenant_id = 'probe' AND created_at <= (SELECT max(finished_at) FROM actions WHERE tenant_id = 'bench')");
    const ms = lat.map((r) => Number(r.ms)).filter((x) => Number.isFinite(x));
    const { rows: bad } = await pool.query("SELECT count(*)::int AS n FROM actions WHERE state <> 'succeeded' AND tenant_id = 'bench'");
    const result = {
      actions: N,
      seconds: Number(elapsed.toFixed(2)),
      submit_seconds: Number((submittedMs / 1000).toFixed(2)),
      actions_per_second: Math.round(N / elapsed),
      probe_latency_ms: { p50: Math.round(pct(ms, 0.5)), p99: Math.round(pct(ms, 0.99)), samples: ms.length },
      subscriber_peak_rss_mib: Math.round(rss / 1048576),
      raw_amqplib_msgs_per_second: Math.round(raw),
      ratio_to_raw: Number((N / elapsed / raw).toFixed(2)),
      not_succeeded: bad[0].n,
      database_transactions_per_action: Number((transactions / N).toFixed(3)),
      machine: { cpus: require('node:os').cpus().length, node: process.version },
    };
    if (JSON_OUT) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write([
        `end-to-end: ${result.actions_per_second} actions/s (${N} noop actions in ${result.seconds} s, every state durable in PostgreSQL; bulk submission took ${result.submit_seconds} s of it)`,
        `single-action latency under that load: p50 ${result.probe_latency_ms.p50} ms, p99 ${result.probe_latency_ms.p99} ms (${ms.length} probes)`,
        `subscriber peak RSS: ${result.subscriber_peak_rss_mib} MiB`,
        `raw amqplib ceiling (confirms + acks, quorum queue, no database): ${result.raw_amqplib_msgs_per_second} msgs/s`,
        `ratio end-to-end / raw: ${result.ratio_to_raw}`,
        `actions not succeeded: ${result.not_succeeded}; database transactions per action: ${result.database_transactions_per_action}`,
      ].join('\n') + '\n');
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((r) => { if (c.exitCode !== null) r(undefined); else c.on('exit', r); })));
    await pool.end();
    const admin = new Pool({ host: '127.0.0.1', user: 'postgres', database: 'postgres', max: 1 });
    admin.on('error', () => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    rabbitmqctl('delete_vhost', vhost);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`); process.exit(1); });
