import { join } from 'node:path';
import { countEvents, stateCounts } from '../helpers/actions';
import { Pipeline, rabbitmqctl } from '../helpers/pipeline';
import { logLines, runCmq, waitForLog } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// One family's queue refusing every publish (a max-length policy with reject-publish, full) must
// not stop the relay for the other families (DESIGN.md invariant 5): the relay tried the families
// in order and gave up the whole cycle at the first failure, so a refusing `provision` stopped
// `monitor`, `guest` and `control` too. The refused family waits with its own capped backoff and
// goes out once its queue takes messages again; nothing is lost or run twice.

let p: Pipeline;

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
  await rabbitmqctl(
    'set_policy',
    '-p',
    p.vhost,
    '--apply-to',
    'queues',
    'full-provision',
    '^cmq\\.provision$',
    '{"max-length":0,"overflow":"reject-publish"}',
  );
  // A quorum queue takes one message past its limit: a filler (dead-lettered at the end) fills it.
  const conn = await brokerConnection(p.vhost);
  try {
    const ch = await conn.createConfirmChannel();
    let nacked = false;
    for (let i = 0; i < 3 && !nacked; i += 1) {
      nacked = await new Promise<boolean>((resolve) =>
        ch.sendToQueue('cmq.provision', Buffer.from('filler'), { persistent: true }, (err: unknown) =>
          resolve(err !== null && err !== undefined),
        ),
      );
    }
    expect(nacked).toBe(true); // the queue refuses now
  } finally {
    await conn.close();
  }
  const refused = await p.submit(
    Array.from({ length: 5 }, () => ({ type: 'noop', tenant: 'f1', args: { family: 'provision' } })),
  );
  const others = await p.submit(
    ['monitor', 'guest', 'control'].flatMap((family) =>
      Array.from({ length: 5 }, () => ({ type: 'noop', tenant: 'f1', args: { family } })),
    ),
  );

  // The other families' actions all run while provision's are refused.
  await p.allFinal(30_000, others);
  const log = join(p.logDir, 'publisher-main.log');
  const failure = (l: Record<string, unknown>): boolean =>
    l.msg === 'relaying a family failed; the others go on' && l.family === 'provision';
  await waitForLog(log, failure, 10_000, 'the relay saying provision failed');
  expect(await stateCounts(p.pool, { ids: refused })).toEqual({ pending: 5 });
  expect((await p.states()).succeeded).toBe(15);
  expect(String(logLines(log).find(failure)?.err)).toBe('publish to cmq.actions not confirmed: message nacked');
  // From the third failure in a row, the publisher's status says so (heartbeat, cmq status, cmq check).
  const publisher = p.processes.find((x) => x.pid !== partial.pid)?.pid;
  const stalled =
    /^relay: cmq\.provision failed \d+ times in a row \(last: publish to cmq\.actions not confirmed: message nacked\); retrying with backoff$/;
  await waitFor(
    async () => {
      const status = JSON.parse((await runCmq(['status', '--json', '--config-dir', p.dir])).stdout) as {
        processes: Array<{ pid: number; waiting: string }>;
      };
      return status.processes.some((x) => x.pid === publisher && stalled.test(x.waiting));
    },
    20_000,
    'cmq status to show provision failing',
  );

  const cleared = Date.now();
  await rabbitmqctl('clear_policy', '-p', p.vhost, 'full-provision');
  partial.kill('SIGTERM');
  expect(await partial.exitCode()).toBe(0);
  const all = p.start('subscriber');
  await p.running('subscriber', 'default', all.pid);
  // RabbitMQ 3.10 goes on refusing the relay's channel after the limit is lifted: what ends it
  // is the relay reopening its connection after refusals in a row (the 5th, then every 6th).
  await p.allFinal(120_000, refused);
  const reopened = logLines(log).filter(
    (l) =>
      l.msg === 'the broker refused a family again and again: reopening the broker connection' &&
      l.family === 'provision',
  );
  expect(reopened.some((l) => Date.parse(String(l.time)) >= cleared)).toBe(true);
  expect(await p.states()).toEqual({ succeeded: 20 });
  // The filler, not an action, was dead-lettered as such; nothing is left waiting.
  await waitFor(
    async () => (await p.pool.query("SELECT 1 FROM dead_letters WHERE body = 'filler'::bytea")).rowCount === 1,
    10_000,
    'the filler dead-lettered',
  );
  await waitFor(
    async () => {
      const status = JSON.parse((await runCmq(['status', '--json', '--config-dir', p.dir])).stdout) as {
        processes: Array<{ pid: number; waiting: string }>;
      };
      return status.processes.some((x) => x.pid === publisher && x.waiting === '');
    },
    20_000,
    'the publisher waiting for nothing again',
  );
  expect(await countEvents(p.pool, { to: 'running' })).toBe(20);
}, 180_000);
