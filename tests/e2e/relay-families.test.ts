import { join } from 'node:path';
import amqp from 'amqplib';
import { Pipeline } from '../helpers/pipeline';
import { execFileP, logLines, waitForLog } from '../helpers/process';
import { waitFor } from '../helpers/wait';

// One family's queue refusing every publish (a max-length policy with reject-publish, full) must
// not stop the relay for the other families (DESIGN.md invariant 5): the relay tried the families
// in order and gave up the whole cycle at the first failure, so a refusing `provision` stopped
// `monitor`, `guest` and `control` too. The refused family waits with its own capped backoff and
// goes out once its queue takes messages again; nothing is lost or run twice.

let p: Pipeline;
const rabbitmqctl = (...args: string[]): Promise<unknown> => execFileP('rabbitmqctl', ['-q', ...args], { timeout: 60_000 });

beforeAll(async () => {
  p = await Pipeline.create({ config: { 'publisher.properties': { 'relay.sweep_interval': '200ms' } } });
  await p.addTenants('f1');
}, 60_000);

afterAll(async () => {
  await p?.destroy();
}, 60_000);

it('a queue that refuses every publish holds back only its own family; the others go on; it goes out once the queue takes messages again, each action once', async () => {
  // Nothing consumes provision yet: its queue stays full at max-length 0.
  const partial = p.start('subscriber', [], { CMQ_SUBSCRIBER_QUEUES: 'monitor,guest,control' });
  p.start('publisher');
  await Promise.all([p.running('publisher', 'main'), p.running('subscriber', 'default', partial.pid)]);
  await rabbitmqctl('set_policy', '-p', p.vhost, '--apply-to', 'queues', 'full-provision', '^cmq\\.provision$', '{"max-length":0,"overflow":"reject-publish"}');
  // A quorum queue takes one message past its limit: a filler (dead-lettered at the end) fills it.
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:5672/${encodeURIComponent(p.vhost)}`);
  try {
    const ch = await conn.createConfirmChannel();
    let nacked = false;
    for (let i = 0; i < 3 && !nacked; i += 1) {
      nacked = await new Promise<boolean>((resolve) => ch.sendToQueue('cmq.provision', Buffer.from('filler'), { persistent: true }, (err: unknown) => resolve(err !== null && err !== undefined)));
    }
    expect(nacked).toBe(true); // the queue refuses now
  } finally {
    await conn.close();
  }
  const refused = await p.submit(Array.from({ length: 5 }, () => ({ type: 'noop', tenant: 'f1', args: { family: 'provision' } })));
  const others = await p.submit(['monitor', 'guest', 'control'].flatMap((family) => Array.from({ length: 5 }, () => ({ type: 'noop', tenant: 'f1', args: { family } }))));

  // The other families' actions all run while provision's are refused.
  await p.allFinal(30_000, others);
  const log = join(p.logDir, 'publisher-main.log');
  const failure = (l: Record<string, unknown>): boolean => l.msg === 'relaying a family failed; the others go on' && l.family === 'provision';
  await waitForLog(log, failure, 10_000, 'the relay saying provision failed');
  const { rows } = await p.pool.query<{ state: string; n: number }>('SELECT state, count(*)::int AS n FROM actions WHERE id = ANY($1::bigint[]) GROUP BY state', [refused]);
  expect(rows).toEqual([{ state: 'pending', n: 5 }]);
  expect((await p.states()).succeeded).toBe(15);
  // Its own backoff: a few tries in two seconds, not one every 200 ms sweep.
  const before = logLines(log).filter(failure).length;
  await new Promise((r) => setTimeout(r, 2_000));
  const tries = logLines(log).filter(failure);
  expect(tries.length - before).toBeLessThanOrEqual(4);
  expect(String(tries.at(-1)?.err)).toMatch(/not confirmed/);

  await rabbitmqctl('clear_policy', '-p', p.vhost, 'full-provision');
  partial.kill('SIGTERM');
  expect(await partial.exitCode()).toBe(0);
  const all = p.start('subscriber');
  await p.running('subscriber', 'default', all.pid);
  await p.allFinal(30_000, refused);
  expect(await p.states()).toEqual({ succeeded: 20 });
  // The filler, not an action, was dead-lettered as such.
  await waitFor(async () => (await p.pool.query("SELECT 1 FROM dead_letters WHERE body = 'filler'::bytea")).rowCount === 1, 10_000, 'the filler dead-lettered');
  // RabbitMQ 3.10 goes on refusing the relay's channel after the limit is lifted: the relay
  // reopened its connection after five failures in a row, and the new channel is taken.
  expect(logLines(log).some((l) => l.msg === 'a family failing again and again: reopening the broker connection' && l.family === 'provision')).toBe(true);
  const { rows: running } = await p.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM action_events WHERE to_state = 'running'");
  expect(running).toEqual([{ n: 20 }]);
}, 90_000);
