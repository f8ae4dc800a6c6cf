#!/usr/bin/env node
// @ts-check
/**
 * The pipeline benchmark (`npm run bench [-- --actions N] [-- --json]`) [-- --cpu-prof DIR] [-- --pg-log]
 * [-- --history N [--history-expired]]: a script, not a test.
 * On the local RabbitMQ, PostgreSQL and Redis it measures, in one run:
 *   1. the raw amqplib ceiling: publish with confirms + consume with acks on a quorum queue,
 *      no database;
 *   2. end-to-end actions/s: N noop actions submitted in bulk (intake batches of 5,000) until
 *      every one is final, through the built publisher and subscriber, every state durable in
 *      PostgreSQL;
 *   3. p50/p99 latency of a single action under that load (probe actions of another tenant,
 *      one every 20 ms, submission to final state);
 *   4. the subscriber's peak RSS (VmHWM);
 *   5. CPU cost per action (ms of CPU time, user + system, from /proc/<pid>/stat) of the
 *      publisher, the subscriber, the PostgreSQL backends of this run's database (the pipeline's
 *      connections, the bench's own intake connections, autovacuum), PostgreSQL's WAL writer,
 *      checkpointer and background writer, this script and RabbitMQ; for the raw ceiling,
 *      RabbitMQ's and this script's CPU per message. On a shared, busy machine wall-clock rates
 *      are noisy; CPU per action is the cost, and is what changes compare on. RabbitMQ's and the
 *      WAL writer's figures are server-wide (other users of the broker or the cluster add to them).
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
const { connectionConfig, withTransaction } = require('@cmq/common');

const ROOT = join(__dirname, '..');
const args = process.argv.slice(2);
const JSON_OUT = args.includes('--json');
const N = Number(args[args.indexOf('--actions') + 1]) || 30_000;
const RAW_N = Number(args[args.indexOf('--raw') + 1]) || 50_000;
/** `--cpu-prof DIR`: the publisher and subscriber write V8 CPU profiles there (open in Chrome DevTools). */
const PROF_DIR = args.includes('--cpu-prof') ? args[args.indexOf('--cpu-prof') + 1] : undefined;
/** `--pg-log`: PostgreSQL logs every statement of this run's database with its duration and plan (server log). */
const PG_LOG = args.includes('--pg-log');
/** `--history N`: N finished actions of history (and 4 events each) filled in SQL before the run (scripts/bench-history.js). */
const HISTORY = args.includes('--history') ? Number(args[args.indexOf('--history') + 1]) : 0;
/**
 * The filled history spans 30 days. By default the publisher keeps it all (retention 31d), so the
 * run measures work with history behind it; `--history-expired` keeps the shipped retention
 * (succeeded and cancelled 7d), so the history keeper removes about 70 % of it during the run.
 */
const HISTORY_KEPT = HISTORY > 0 && !args.includes('--history-expired');
const KEEP_ALL = ['succeeded', 'cancelled', 'failed', 'dead', 'expired', 'rejected']
  .map((state) => `history.retention.${state}=31d\n`)
  .join('');
const suffix = randomBytes(4).toString('hex');
const database = `cmq_bench_${suffix}`;
const vhost = `cmq-bench-${suffix}`;
const say = (/** @type {string} */ m) => {
  if (!JSON_OUT) process.stderr.write(`bench: ${m}\n`);
};
const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
const rabbitmqctl = (/** @type {string[]} */ ...a) => execFileSync('rabbitmqctl', ['-q', ...a], { stdio: 'pipe' });

/**
 * Publishes `count` messages with confirms while one consumer acks them; returns msgs/s. With
 * `topic`, the messages go the way the design routes actions (a durable topic exchange, routing
 * key `<family>.<type>.<tenant>`, the queue bound with `<family>.#`) instead of straight to the
 * queue through the default exchange: RabbitMQ's topic routing is a cost the pipeline cannot
 * avoid, so that figure tells how much of the gap to the plain ceiling is the broker's.
 */
async function rawCeiling(count, topic = false) {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(vhost)}`);
  const pub = await conn.createConfirmChannel();
  const sub = await conn.createChannel();
  const queue = topic ? 'bench.raw.topic' : 'bench.raw';
  await pub.assertQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  if (topic) {
    await pub.assertExchange('bench.actions', 'topic', { durable: true });
    await pub.bindQueue(queue, 'bench.actions', 'monitor.#');
  }
  await sub.prefetch(500);
  let consumed = 0;
  /** @type {() => void} */ let done = () => undefined;
  const finished = new Promise((r) => {
    done = () => r(undefined);
  });
  const body = Buffer.from(JSON.stringify({ id: '123456', tenant: 'bench', type: 'noop', args: {} }));
  const started = process.hrtime.bigint();
  await sub.consume(queue, (m) => {
    if (m) {
      sub.ack(m);
      consumed += 1;
      if (consumed === count) done();
    }
  });
  for (let i = 0; i < count; i += 1) {
    const sent = topic
      ? pub.publish('bench.actions', 'monitor.noop.bench', body, { persistent: true })
      : pub.sendToQueue(queue, body, { persistent: true });
    if (!sent) await new Promise((r) => pub.once('drain', r));
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
    'publisher.properties': `log.dir=${dir}/log\nmetrics.dir=${dir}/metrics\nrelay.batch_size=2000\nrelay.window=4000\nrelay.tenant_cap=4000\nrelay.sweep_interval=50ms\n${HISTORY_KEPT ? KEEP_ALL : ''}`,
    'subscriber.properties': `log.dir=${dir}/log\nmetrics.dir=${dir}/metrics\nconcurrency=500\nprefetch=1000\n`,
  };
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
}

/** Starts a built service; BENCH_NODE_FLAGS (environment) adds Node flags, for experiments (`--single-threaded-gc`). */
function start(service, dir) {
  const prof =
    PROF_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROF_DIR}`, `--cpu-prof-name=${service}.cpuprofile`];
  const extra = (process.env.BENCH_NODE_FLAGS ?? '').split(' ').filter(Boolean);
  const child = spawn(
    process.execPath,
    [...extra, ...prof, join(ROOT, `services/${service}/dist/main.js`), '--config-dir', dir],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  return child;
}

async function waitRunning(dir, file) {
  for (let i = 0; i < 300; i += 1) {
    try {
      if (readFileSync(join(dir, 'log', file), 'utf8').includes('"msg":"state running"')) return;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  throw new Error(`${file} never said it was running`);
}

function peakRss(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : NaN;
}

/** CPU seconds (user + system) a process has used, or undefined once it is gone. */
function cpuSeconds(/** @type {number} */ pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return undefined;
  }
}

/** The broker's Erlang VM (beam.smp of user rabbitmq), if one runs here. */
function brokerPid() {
  try {
    const out = execFileSync('pgrep', ['-u', 'rabbitmq', '-f', 'beam.smp'], { encoding: 'utf8' }).trim().split('\n')[0];
    return out ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Accumulates CPU time per group of processes between start() and stop(). Processes are sampled
 * every 200 ms; one seen for the first time after start() counts from 0 (a new backend), one
 * that exits keeps its last sample (so a short-lived backend loses at most 200 ms of its CPU).
 */
class CpuMeter {
  constructor(/** @type {() => Promise<Array<{ pid: number, group: string }>>} */ list) {
    this.list = list;
    /** @type {Map<number, { group: string, first: number, last: number }>} */
    this.seen = new Map();
    this.running = false;
    /** @type {Promise<void>} */
    this.loop = Promise.resolve();
  }

  async sample(initial = false) {
    for (const { pid, group } of await this.list()) {
      const cpu = cpuSeconds(pid);
      if (cpu === undefined) continue;
      const s = this.seen.get(pid);
      if (s === undefined) this.seen.set(pid, { group, first: initial ? cpu : 0, last: cpu });
      else s.last = cpu;
    }
  }

  async start() {
    await this.sample(true);
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        await sleep(200);
        await this.sample().catch(() => undefined);
      }
    })();
  }

  /** @returns {Promise<Record<string, number>>} CPU seconds per group */
  async stop() {
    this.running = false;
    await this.loop;
    await this.sample();
    /** @type {Record<string, number>} */
    const groups = {};
    for (const s of this.seen.values()) groups[s.group] = (groups[s.group] ?? 0) + (s.last - s.first);
    return groups;
  }
}

const pct = (/** @type {number[]} */ xs, /** @type {number} */ p) =>
  xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

/** CPU seconds per group → ms per item, with the totals of the Node processes and of PostgreSQL. */
function perAction(/** @type {Record<string, number>} */ groups, /** @type {number} */ n) {
  const ms = (/** @type {number} */ sec) => Number(((sec * 1000) / n).toFixed(4));
  /** @type {Record<string, number>} */
  const out = {};
  for (const k of Object.keys(groups).sort()) out[k] = ms(groups[k] ?? 0);
  const sum = (/** @type {(k: string) => boolean} */ f) =>
    Object.entries(groups)
      .filter(([k]) => f(k))
      .reduce((a, [, v]) => a + v, 0);
  if ('publisher' in groups) {
    out.node_total = ms(sum((k) => k === 'publisher' || k === 'subscriber'));
    out.postgres_total = ms(sum((k) => k.startsWith('postgres_')));
  }
  return out;
}

async function main() {
  execFileSync(join(ROOT, 'scripts/setup-deps.sh'), { stdio: JSON_OUT ? 'ignore' : 'inherit' });
  rabbitmqctl('add_vhost', vhost);
  rabbitmqctl('set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*');
  const dir = mkdtempSync(join(tmpdir(), 'cmq-bench-'));
  writeConfig(dir);
  execFileSync(
    process.execPath,
    [join(ROOT, 'packages/cli/dist/main.js'), 'migrate', '--create-database', '--config-dir', dir],
    { stdio: 'ignore' },
  );
  if (PG_LOG) {
    for (const set of [
      'log_min_duration_statement = 0',
      "session_preload_libraries = 'auto_explain'",
      'auto_explain.log_min_duration = 0',
    ]) {
      execFileSync('psql', [
        '-h',
        '127.0.0.1',
        '-U',
        'postgres',
        '-Atqc',
        `ALTER DATABASE ${database} SET ${set}`,
        'postgres',
      ]);
    }
  }
  // The bench submits as `cmq call --stdin` does: through insertActions, on connections set up as the product's are.
  const pool = new Pool({
    ...connectionConfig(
      {
        host: '127.0.0.1',
        port: 5432,
        database,
        user: 'postgres',
        password: '',
        connect_timeout: 10_000,
        ssl: { mode: 'disable', ca: '', cert: '', key: '' },
      },
      'cmq-bench',
    ),
    max: 4,
  });
  pool.on('error', () => undefined);
  const children = [];
  try {
    say(`raw amqplib ceiling: ${RAW_N} messages, quorum queue, confirms + acks`);
    const broker = brokerPid();
    const rawMeter = () =>
      new CpuMeter(async () => [
        { pid: process.pid, group: 'client' },
        ...(broker ? [{ pid: broker, group: 'broker' }] : []),
      ]);
    const plainMeter = rawMeter();
    await plainMeter.start();
    const raw = await rawCeiling(RAW_N);
    const rawCpu = await plainMeter.stop();
    say(`raw ceiling through a topic exchange, as actions are routed: ${RAW_N} messages`);
    const topicMeter = rawMeter();
    await topicMeter.start();
    const rawTopic = await rawCeiling(RAW_N, true);
    const rawTopicCpu = await topicMeter.stop();
    await pool.query("INSERT INTO tenants (id, name) VALUES ('bench', 'bench'), ('probe', 'probe')");
    if (HISTORY > 0) {
      say(`filling ${HISTORY} finished actions of history`);
      await require('./bench-history-fill').fillHistory(pool, { actions: HISTORY, say });
    }
    const submit = (reqs) =>
      insertActions(
        (fn) => withTransaction(pool, fn),
        reqs.map((r) => {
          const p = parseRequest(r);
          if (!p.ok) throw new Error(p.error);
          return p.request;
        }),
        'bench',
      );

    children.push(start('publisher', dir), start('subscriber', dir));
    await Promise.all([waitRunning(dir, 'publisher-main.log'), waitRunning(dir, 'subscriber-default.log')]);
    say(`pipeline: ${N} noop actions submitted in bulk`);
    const xacts = async () =>
      Number(
        (await pool.query('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()')).rows[0]
          .xact_commit,
      );
    const x0 = await xacts();
    const [publisher, subscriber] = children.map((c) => /** @type {number} */ (c.pid));
    const meter = new CpuMeter(async () => {
      const { rows } = await pool.query(
        "SELECT pid, application_name, backend_type, datname IS NULL AS shared FROM pg_stat_activity WHERE datname = current_database() OR backend_type IN ('walwriter', 'checkpointer', 'background writer')",
      );
      return [
        { pid: /** @type {number} */ (publisher), group: 'publisher' },
        { pid: /** @type {number} */ (subscriber), group: 'subscriber' },
        { pid: process.pid, group: 'bench_client' },
        ...(broker ? [{ pid: broker, group: 'broker' }] : []),
        ...rows.map((r) => ({
          pid: Number(r.pid),
          group: r.shared
            ? 'server_wal_writer_checkpointer'
            : r.backend_type !== 'client backend'
              ? 'postgres_autovacuum'
              : r.application_name === 'cmq-bench'
                ? 'postgres_intake'
                : 'postgres_pipeline',
        })),
      ];
    });
    await meter.start();
    const t0 = Date.now();
    let probing = true;
    const probes = (async () => {
      while (probing) {
        await submit([{ type: 'noop', tenant: 'probe' }]);
        await sleep(20);
      }
    })();
    for (let i = 0; i < N; i += 5_000)
      await submit(Array.from({ length: Math.min(5_000, N - i) }, () => ({ type: 'noop', tenant: 'bench' })));
    const submittedMs = Date.now() - t0;
    // Polls whether any bench action is still unfinished through the relay's partial indexes
    // (each stops at the first row found): a count over the table scanned all of it four times a
    // second, PostgreSQL CPU taken from the pipeline being measured.
    for (;;) {
      const { rows } = await pool.query(
        "SELECT EXISTS (SELECT 1 FROM actions WHERE state IN ('pending', 'retrying') AND tenant_id = 'bench') OR EXISTS (SELECT 1 FROM actions WHERE state IN ('queued', 'running') AND tenant_id = 'bench') AS busy",
      );
      if (rows[0].busy !== true) break;
      await sleep(250);
    }
    // The poll above is coarse (every 250 ms); the last commit time is exact.
    const last = await pool.query("SELECT max(finished_at) AS t FROM actions WHERE tenant_id = 'bench'");
    const elapsed = (new Date(last.rows[0].t).getTime() - t0) / 1000;
    const transactions = (await xacts()) - x0;
    const cpu = await meter.stop();
    probing = false;
    await probes;
    const rss = peakRss(/** @type {number} */ (children[1].pid));
    const { rows: lat } = await pool.query(
      "SELECT extract(epoch FROM finished_at - created_at) * 1000 AS ms FROM actions WHERE tenant_id = 'probe' AND created_at <= (SELECT max(finished_at) FROM actions WHERE tenant_id = 'bench')",
    );
    const ms = lat.map((r) => Number(r.ms)).filter((x) => Number.isFinite(x));
    const { rows: bad } = await pool.query(
      "SELECT count(*)::int AS n FROM actions WHERE state <> 'succeeded' AND tenant_id = 'bench'",
    );
    // How much of the filled history the keeper removed while the run went on (--history-expired).
    const kept =
      HISTORY > 0
        ? Number((await pool.query("SELECT count(*) AS n FROM actions WHERE tenant_id LIKE 'hist-%'")).rows[0].n)
        : 0;
    const result = {
      ...(HISTORY > 0 ? { history: HISTORY, history_removed_during_run: HISTORY - kept } : {}),
      actions: N,
      seconds: Number(elapsed.toFixed(2)),
      submit_seconds: Number((submittedMs / 1000).toFixed(2)),
      actions_per_second: Math.round(N / elapsed),
      probe_latency_ms: { p50: Math.round(pct(ms, 0.5)), p99: Math.round(pct(ms, 0.99)), samples: ms.length },
      subscriber_peak_rss_mib: Math.round(rss / 1048576),
      raw_amqplib_msgs_per_second: Math.round(raw),
      ratio_to_raw: Number((N / elapsed / raw).toFixed(2)),
      raw_topic_msgs_per_second: Math.round(rawTopic),
      ratio_to_raw_topic: Number((N / elapsed / rawTopic).toFixed(2)),
      not_succeeded: bad[0].n,
      database_transactions_per_action: Number((transactions / N).toFixed(3)),
      // CPU ms per action (probes included in the denominator: they are actions too).
      cpu_ms_per_action: perAction(cpu, N + ms.length),
      raw_cpu_ms_per_msg: perAction(rawCpu, RAW_N),
      raw_topic_cpu_ms_per_msg: perAction(rawTopicCpu, RAW_N),
      machine: { cpus: require('node:os').cpus().length, node: process.version },
    };
    if (JSON_OUT) process.stdout.write(`${JSON.stringify(result)}\n`);
    else {
      process.stdout.write(
        [
          `end-to-end: ${result.actions_per_second} actions/s (${N} noop actions in ${result.seconds} s, every state durable in PostgreSQL; bulk submission took ${result.submit_seconds} s of it)`,
          `single-action latency under that load: p50 ${result.probe_latency_ms.p50} ms, p99 ${result.probe_latency_ms.p99} ms (${ms.length} probes)`,
          `subscriber peak RSS: ${result.subscriber_peak_rss_mib} MiB`,
          `raw amqplib ceiling (confirms + acks, quorum queue, no database): ${result.raw_amqplib_msgs_per_second} msgs/s`,
          `ratio end-to-end / raw: ${result.ratio_to_raw}`,
          `raw through a topic exchange (as actions are routed): ${result.raw_topic_msgs_per_second} msgs/s; ratio end-to-end / that: ${result.ratio_to_raw_topic}`,
          `actions not succeeded: ${result.not_succeeded}; database transactions per action: ${result.database_transactions_per_action}`,
          `CPU ms per action: ${Object.entries(result.cpu_ms_per_action)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
          `raw ceiling CPU ms per message: ${Object.entries(result.raw_cpu_ms_per_msg)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
          `raw through a topic exchange, CPU ms per message: ${Object.entries(result.raw_topic_cpu_ms_per_msg)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        ].join('\n') + '\n',
      );
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(
      children.map(
        (c) =>
          new Promise((r) => {
            if (c.exitCode !== null) r(undefined);
            else c.on('exit', r);
          }),
      ),
    );
    await pool.end();
    const admin = new Pool({ host: '127.0.0.1', user: 'postgres', database: 'postgres', max: 1 });
    admin.on('error', () => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    rabbitmqctl('delete_vhost', vhost);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
