import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { actionRow } from '../helpers/actions';
import { serviceConfig } from '../helpers/config-dir';
import { Pipeline } from '../helpers/pipeline';
import { spawnBin } from '../helpers/process';
import { brokerConnection, createTestDatabase, dropTestDatabase } from '../helpers/services';
import { waitFor } from '../helpers/wait';

/**
 * A FAKE Sentry ingest: the real Sentry (or a self-hosted one) cannot run here, so a few lines
 * of node:http stand in for its envelope endpoint (POST /api/<project>/envelope/). It keeps
 * every body as received, and can answer 200, answer 500, or accept the request and never
 * answer at all.
 */
class FakeIngest {
  mode: 'ok' | 'fail' | 'hang' = 'ok';
  /** Every body received, as text (gunzipped when compressed). */
  readonly bodies: string[] = [];
  private readonly hanging: ServerResponse[] = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<FakeIngest> {
    const server = createServer();
    const ingest = new FakeIngest(server);
    server.on('request', (req, res) => ingest.receive(req, res));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return ingest;
  }

  get dsn(): string {
    return `http://testkey@127.0.0.1:${(this.server.address() as AddressInfo).port}/7`;
  }

  /** Events received (items of type `event`), in order. */
  get events(): SentryEvent[] {
    return this.bodies.flatMap((body) => {
      const lines = body.split('\n');
      const out: SentryEvent[] = [];
      for (let i = 1; i + 1 < lines.length; i += 2)
        if ((JSON.parse(lines[i] as string) as { type: string }).type === 'event')
          out.push(JSON.parse(lines[i + 1] as string) as SentryEvent);
      return out;
    });
  }

  eventsFor(action: string): SentryEvent[] {
    return this.events.filter((e) => e.tags.action_id === action);
  }

  private receive(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      this.bodies.push((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString());
      if (this.mode === 'hang') this.hanging.push(res);
      else res.writeHead(this.mode === 'ok' ? 200 : 500).end('{}');
    });
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

interface SentryEvent {
  level: string;
  release: string;
  environment: string;
  message?: string;
  exception?: { values: Array<{ type: string; value: string }> };
  tags: Record<string, string>;
  fingerprint: string[];
}

// Planted secrets: a cloud secret access key, an SSH private key, a password in a URL.
const CLOUD_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYZZSECRET9Q';
const SSH_KEY_BODY = 'b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQPLANTEDKEYMATERIAL';
const URL_PASSWORD = 'hunter2-planted-pw';
const PLANTED =
  `aws_secret_access_key=${CLOUD_SECRET} key ${CLOUD_SECRET} ` +
  `-----BEGIN OPENSSH PRIVATE KEY-----\n${SSH_KEY_BODY}\n-----END OPENSSH PRIVATE KEY----- ` +
  `db postgres://cmq:${URL_PASSWORD}@db.internal:5432/cmq`;

let pipe: Pipeline;
let ingest: FakeIngest;

beforeAll(async () => {
  ingest = await FakeIngest.start();
  const own = { 'sentry.dsn': ingest.dsn, 'sentry.environment': 'e2e', 'sentry.timeout': '500ms' };
  pipe = await Pipeline.create({
    config: {
      'subscriber.properties': { ...own, 'retry.initial_delay': '100ms', 'metrics.interval': '200ms' },
      'publisher.properties': own,
    },
  });
  await pipe.addTenants('t1');
  await pipe.startPublisherAndSubscriber();
});

afterAll(async () => {
  await pipe?.destroy();
  await ingest?.close();
});

/** Submits one noop, waits until it is final, returns its id. */
async function run(args: Record<string, unknown>, maxAttempts = 1): Promise<string> {
  const [id] = await pipe.submit([{ type: 'noop', tenant: 't1', args, max_attempts: maxAttempts }]);
  await pipe.allFinal(20_000, [id as string]);
  return id as string;
}

/** Waits until `n` events about `action` arrived. */
async function eventsOf(action: string, n = 1): Promise<SentryEvent[]> {
  await waitFor(() => ingest.eventsFor(action).length >= n, 10_000, `${n} event(s) for action ${action}`);
  return ingest.eventsFor(action);
}

it('a handler bug is one event with its tags; a transient failure that succeeds is none; a dead action is one', async () => {
  const bug = await run({ fail: 'bug', message: PLANTED });
  const transient = await run({ fail_times: 1 }, 3);
  expect(await actionRow(pipe.pool, transient)).toMatchObject({ state: 'succeeded', attempts: 2 });
  const dead = await run({ fail: 'permanent' });
  // One process sends its events in order: once the dead action's arrived, the others are in.
  const [deadEvent] = await eventsOf(dead);
  const [bugEvent, ...more] = await eventsOf(bug);
  expect(more).toEqual([]);
  expect(ingest.eventsFor(transient)).toEqual([]);
  expect(bugEvent).toMatchObject({
    level: 'error',
    environment: 'e2e',
    release: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown,
    exception: { values: [expect.objectContaining({ type: 'TypeError' })] },
    tags: {
      kind: 'bug',
      service: 'subscriber',
      process: 'default',
      host: expect.any(String) as unknown,
      tenant: 't1',
      action_id: bug,
      type: 'noop',
      attempt: '1',
      code: 'TypeError',
    },
    fingerprint: ['bug', 'noop', 'TypeError'],
  });
  expect(deadEvent).toMatchObject({
    tags: { kind: 'dead', action_id: dead, type: 'noop', code: 'CMQ_ERR_NOOP_PERMANENT' },
    fingerprint: ['dead', 'noop', 'CMQ_ERR_NOOP_PERMANENT'],
  });
  expect(ingest.eventsFor(dead)).toHaveLength(1);
});

it('a message that can never run is one dead report, with the dead letter it became', async () => {
  const conn = await brokerConnection(pipe.vhost);
  try {
    const ch = await conn.createConfirmChannel();
    ch.publish('cmq.actions', 'control.noop.t1', Buffer.from('not json at all'));
    await ch.waitForConfirms();
  } finally {
    await conn.close();
  }
  await waitFor(() => ingest.events.some((e) => e.tags.code === 'dead_letter'), 10_000, 'a dead-letter report');
  const [event] = ingest.events.filter((e) => e.tags.code === 'dead_letter');
  expect(event).toMatchObject({ level: 'error', tags: { kind: 'dead', service: 'subscriber' } });
  expect(event?.message).toMatch(/^message dead-lettered \(m\d+\): /);
});

it('three runs of the same bug group under one fingerprint, whatever their message', async () => {
  const ids: string[] = [];
  for (const n of [1, 2, 3]) ids.push(await run({ fail: 'bug', message: `run ${n} of ${ids.join(',')}` }));
  const events = await Promise.all(ids.map(async (id) => (await eventsOf(id))[0] as SentryEvent));
  expect(new Set(events.map((e) => e.exception?.values[0]?.value)).size).toBe(3);
  expect(new Set(events.map((e) => JSON.stringify(e.fingerprint)))).toEqual(
    new Set([JSON.stringify(['bug', 'noop', 'TypeError'])]),
  );
});

it('planted secrets appear nowhere in what the ingest received', async () => {
  await eventsOf(await run({ fail: 'permanent', message: PLANTED }));
  const received = ingest.bodies.join('\n');
  expect(received).toContain('[redacted]');
  for (const secret of [CLOUD_SECRET, SSH_KEY_BODY, URL_PASSWORD, 'BEGIN OPENSSH PRIVATE KEY'])
    expect(received).not.toContain(secret);
});

it.each(['fail', 'hang'] as const)(
  'an ingest that answers 500 or never answers (%s) changes nothing for actions, and drops are counted',
  async (mode) => {
    ingest.mode = mode;
    const subscriber = pipe.processes[1];
    const before = ingest.bodies.length;
    const bugs = await Promise.all([run({ fail: 'bug' }), run({ fail: 'permanent' })]);
    const ids = await pipe.submit(Array.from({ length: 20 }, () => ({ type: 'noop', tenant: 't1' })));
    await pipe.allFinal(20_000, ids);
    for (const id of ids) expect(await actionRow(pipe.pool, id)).toMatchObject({ state: 'succeeded' });
    for (const id of bugs) expect((await actionRow(pipe.pool, id)).state).toBe('dead');
    expect(ingest.bodies.length).toBeGreaterThan(before);
    const reason = mode === 'fail' ? 'send_error' : 'network_error';
    const prom = join(pipe.dir, 'metrics', 'subscriber-default.prom');
    await waitFor(
      () => new RegExp(`cmq_error_reports_dropped_total\\{reason="${reason}"[^}]*\\} [1-9]`).test(readProm(prom)),
      10_000,
      `dropped reports (${reason}) counted in ${prom}`,
    );
    expect(subscriber?.alive()).toBe(true);
    ingest.mode = 'ok';
  },
);

it('a fatal error is reported before the process exits', async () => {
  // An empty database, never migrated: the subscriber's start fails, fatally (exit 78).
  const database = await createTestDatabase('cmq_fatal');
  try {
    const { dir } = serviceConfig(
      { 'mq.cfg': { 'amqp.vhost': pipe.vhost }, 'subscriber.properties': { 'sentry.dsn': ingest.dsn } },
      database,
    );
    const subscriber = spawnBin('subscriber', ['--config-dir', dir]);
    expect(await subscriber.exitCode(30_000)).toBe(78);
    // The exit waited for the report: it is in already.
    const fatal = ingest.events.filter((e) => e.tags.kind === 'fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ level: 'fatal', tags: { service: 'subscriber', code: 'CMQ_ERR_SCHEMA' } });
  } finally {
    await dropTestDatabase(database);
  }
});

function readProm(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
