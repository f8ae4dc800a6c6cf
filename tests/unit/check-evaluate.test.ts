import type { WaitingProcess } from '@cmq/actions';
import { type CheckInput, type ProcessBeat, type StoredSummary, evaluate, statusLine } from '@cmq/actions';
import { parseNagios } from '../helpers/nagios';

/** `cmq check`'s verdict on what processes say they wait for (their heartbeats' `waiting`, via the pinger summary). */
const FAMILIES = ['provision', 'monitor', 'guest', 'control'] as const;
const NOW = Date.parse('2026-03-04T03:00:00.000Z');
const BLOCKED = 'broker blocked publishing: low on memory';

function beat(
  service: string,
  name: string,
  host: string,
  pid: number,
  queues: string[],
  waiting = '',
  state = 'running',
  paused: ProcessBeat['paused'] = {},
): ProcessBeat {
  const at = new Date(NOW - 1_000).toISOString();
  return {
    service,
    name,
    host,
    pid,
    version: '0.1.0',
    started_at: at,
    at,
    queues,
    in_flight: 0,
    processed: 0,
    failed: 0,
    rss: 1,
    interval_ms: 2_000,
    loop_lag_ms: 1,
    waiting,
    state,
    paused,
  };
}

function waiter(service: string, name: string, host: string, waiting: string, pid = 100): WaitingProcess {
  return { service, name, host, pid, waiting };
}

function summary(opts: { waiting?: WaitingProcess[]; lost?: string; ageMs?: number } = {}): StoredSummary {
  const at = new Date(NOW - (opts.ageMs ?? 1_000)).toISOString();
  const families = Object.fromEntries(
    FAMILIES.map((f) => [
      f,
      {
        consumers: 1,
        backlog: 0,
        queued: 0,
        running: 0,
        oldest_age_s: null,
        broker_depth: 0,
        canary:
          f === opts.lost
            ? { state: 'lost' as const, latency_ms: null, sent_at: at }
            : { state: 'ok' as const, latency_ms: 12, sent_at: at },
      },
    ]),
  );
  const ok = { ok: true, ms: 1 };
  return {
    at,
    pinger: 'pinger:main@host9:1',
    interval_ms: 10_000,
    dependencies: { postgres: ok, redis: ok, rabbitmq: ok },
    families,
    dead_last_interval: 0,
    reaped_last_interval: 0,
    waiting: opts.waiting ?? [],
  };
}

function input(
  s: StoredSummary | undefined,
  beats: ProcessBeat[] = [beat('subscriber', 'default', 'host2', 7, [...FAMILIES])],
): CheckInput {
  return {
    families: FAMILIES,
    summary: s,
    beats,
    postgresError: undefined,
    thresholds: {
      canaryWarningMs: 2_000,
      canaryCriticalMs: 10_000,
      oldestWarningS: 60,
      oldestCriticalS: 300,
      summaryMaxAgeMs: 30_000,
      pingerIntervalMs: 10_000,
    },
    now: NOW,
  };
}

it('a process waiting on something is a WARNING naming it and what it waits for; the perfdata does not change', () => {
  const quiet = evaluate(input(summary()));
  expect(quiet.code).toBe(0);
  const res = evaluate(input(summary({ waiting: [waiter('publisher', 'main', 'host1', BLOCKED)] })));
  expect(res).toEqual({ code: 1, text: `publisher main@host1: ${BLOCKED}`, perfdata: quiet.perfdata });
  const line = parseNagios(statusLine(res.code, res.text, res.perfdata));
  expect(line).toMatchObject({ word: 'WARNING', text: `publisher main@host1: ${BLOCKED}` });
  expect(Object.keys(line.perf)).toHaveLength(4 * 4 + 1);
});

it('CRITICAL for a lost canary still names the waiting processes, after the critical problem', () => {
  const res = evaluate(input(summary({ lost: 'guest', waiting: [waiter('publisher', 'main', 'host1', BLOCKED)] })));
  expect(res.code).toBe(2);
  expect(res.text).toBe(`canary lost on guest; publisher main@host1: ${BLOCKED}`);
  expect(parseNagios(statusLine(res.code, res.text, res.perfdata)).word).toBe('CRITICAL');
});

it('each text is cut to 200 characters on one line, control characters escaped and "|" kept out of the line', () => {
  const long = `waiting for database at db1:5432/cmq (${'x'.repeat(400)})`;
  const res = evaluate(
    input(
      summary({
        waiting: [
          waiter('subscriber', 'a', 'host1', long),
          waiter('pinger', 'main', 'host1', 'odd\u001b[2J | text\nhere'),
        ],
      }),
    ),
  );
  expect(res.code).toBe(1);
  const [cut, odd] = res.text.split('; ');
  expect(odd).toBe('pinger main@host1: odd\\u001b[2J | text here');
  expect(cut).toBe(`subscriber a@host1: ${long.slice(0, 199)}…`);
  const line = statusLine(res.code, res.text, res.perfdata);
  expect(parseNagios(line).text).toMatch(/odd\\u001b\[2J +text here$/);
});

it('processes waiting for the same thing share one text; past five texts the rest are counted', () => {
  const lost = 'waiting for broker at amqp://rabbit1:5672 (connection lost: socket closed)';
  const same = ['a', 'b', 'c', 'd'].map((n, i) => waiter('subscriber', n, 'host1', lost, i));
  expect(evaluate(input(summary({ waiting: same.slice(0, 2) }))).text).toBe(
    `subscriber a@host1, subscriber b@host1: ${lost}`,
  );
  expect(evaluate(input(summary({ waiting: same }))).text).toBe(
    `subscriber a@host1, subscriber b@host1 and 2 more: ${lost}`,
  );
  const many = Array.from({ length: 8 }, (_, i) =>
    waiter('subscriber', `s${i}`, 'host1', `waiting for database at db${i}:5432/cmq (timeout)`),
  );
  const texts = evaluate(input(summary({ waiting: many }))).text.split('; ');
  expect(texts).toHaveLength(5);
  expect(texts[0]).toBe('subscriber s0@host1: waiting for database at db0:5432/cmq (timeout)');
  expect(texts[4]).toBe('4 more waiting (cmq status)');
});

it('without a fresh summary (no pinger), the live heartbeats say who waits, after the CRITICAL', () => {
  const beats = [
    beat('subscriber', 'default', 'host2', 7, [...FAMILIES]),
    beat('publisher', 'main', 'host1', 8, [], BLOCKED),
  ];
  expect(evaluate(input(undefined, beats))).toMatchObject({
    code: 2,
    text: `no pinger summary in redis: is a pinger running?; publisher main@host1: ${BLOCKED}`,
  });
  const stale = evaluate(
    input(summary({ ageMs: 60_000, waiting: [waiter('subscriber', 'old', 'host3', 'stale text')] }), beats),
  );
  expect(stale.code).toBe(2);
  expect(stale.text).toMatch(new RegExp(`^pinger summary is 60s old .*; publisher main@host1: ${BLOCKED}$`));
  // A fresh summary is what counts: heartbeats read by the check itself are not listed twice.
  expect(evaluate(input(summary({ waiting: [waiter('publisher', 'main', 'host1', BLOCKED)] }), beats)).text).toBe(
    `publisher main@host1: ${BLOCKED}`,
  );
});

it('a subscriber still starting or draining consumes nothing: its families have no live subscriber; one of a release without `state` counts', () => {
  const waitingBroker = 'waiting for broker at amqp://mq1:5672 (connect ECONNREFUSED)';
  const starting = evaluate(
    input(summary({ waiting: [waiter('subscriber', 'b', 'host3', waitingBroker)] }), [
      beat('subscriber', 'a', 'host2', 7, ['provision', 'monitor']),
      beat('subscriber', 'b', 'host3', 8, ['guest', 'control'], waitingBroker, 'starting'),
    ]),
  );
  expect(starting.code).toBe(2);
  expect(starting.text).toBe(
    `no live subscriber consumes guest, control (1 subscriber starting); subscriber b@host3: ${waitingBroker}`,
  );
  expect(parseNagios(statusLine(starting.code, starting.text, starting.perfdata)).perf).toMatchObject({
    subscribers_guest: { value: '0' },
    subscribers_provision: { value: '1' },
  });
  const draining = evaluate(
    input(summary(), [
      beat('subscriber', 'a', 'host2', 7, [...FAMILIES], '', 'draining'),
      beat('subscriber', 'b', 'host3', 8, ['guest'], '', 'draining'),
      beat('subscriber', 'c', 'host4', 9, ['guest'], '', 'starting'),
    ]),
  );
  expect(draining.text).toBe(
    'no live subscriber consumes provision, monitor, guest, control (2 subscribers draining, 1 subscriber starting)',
  );
  const older = evaluate(input(summary(), [beat('subscriber', 'a', 'host2', 7, [...FAMILIES], '', '')]));
  expect(older.code).toBe(0);
});

it('a family paused by worker control is a WARNING naming where, who paused it and when; one paused everywhere has no consumer', () => {
  const at = '2026-03-04T02:55:00.000Z';
  const mark = { control: { by: 'cli:ops@host9', at } };
  const one = evaluate(
    input(summary(), [
      beat('subscriber', 'a', 'host2', 7, [...FAMILIES]),
      beat('subscriber', 'b', 'host3', 8, ['provision', 'monitor', 'guest'], '', 'running', mark),
    ]),
  );
  expect(one.code).toBe(1);
  expect(one.text).toBe(`control paused on subscriber b@host3 by cli:ops@host9 at ${at}`);
  const everywhere = evaluate(
    input(summary(), [beat('subscriber', 'b', 'host3', 8, ['provision', 'monitor', 'guest'], '', 'running', mark)]),
  );
  expect(everywhere.code).toBe(2);
  expect(everywhere.text).toBe(
    `no live subscriber consumes control; control paused on subscriber b@host3 by cli:ops@host9 at ${at}`,
  );
});
