import { join } from 'node:path';
import { AlarmBroker } from '../helpers/alarm-broker';
import { Pipeline } from '../helpers/pipeline';
import { logLines, waitForLog } from '../helpers/process';
import { waitFor } from '../helpers/wait';

// A RabbitMQ resource alarm (memory, disk) blocks every publishing connection: the broker reads
// nothing more from it, so the relay's batch waits for confirms that do not come. Its transaction
// must not hold the batch's rows locked (a `cmq cancel` of one would hang) until the alarm clears;
// the relay must not pile up copies while blocked; nothing may be lost or run twice.

let broker: AlarmBroker;
let p: Pipeline;

beforeAll(async () => {
  broker = await AlarmBroker.start();
  p = await Pipeline.create({ config: { 'mq.cfg': { 'amqp.urls': broker.url, 'amqp.vhost': '/' }, 'publisher.properties': { 'relay.confirm_timeout': '2s' } } });
  await p.addTenants('t1');
  await p.startPublisherAndSubscriber();
}, 150_000);

afterAll(async () => {
  await p.destroy();
  await broker.stop();
}, 60_000);

/** Whether any of the rows is locked by another transaction (the relay's). */
async function locked(ids: string[]): Promise<boolean> {
  const client = await p.pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SELECT id FROM actions WHERE id = ANY($1::bigint[]) FOR UPDATE NOWAIT', [ids]);
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === '55P03') return true;
    throw err;
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

it('a batch the blocked broker does not confirm is rolled back within relay.confirm_timeout and waits, unlocked and due, until the alarm clears; then every action runs once', async () => {
  const [first] = await p.submit([{ type: 'noop', tenant: 't1' }]);
  await p.allFinal(30_000, [first as string]);

  await broker.alarm(true);
  const ids = await p.submit(Array.from({ length: 20 }, () => ({ type: 'noop', tenant: 't1' })));
  const log = join(p.logDir, 'publisher-main.log');
  const timedOut = (l: Record<string, unknown>): boolean => l.msg === 'relay cycle failed; retrying' && String(l.err).includes('within relay.confirm_timeout (2000 ms) (broker blocked publishing: low on memory)');
  await waitForLog(log, timedOut, 30_000, 'the relay giving up on an unconfirmed batch');
  await waitFor(async () => !(await locked(ids)), 10_000, 'the batch rows unlocked');
  expect(await p.states()).toEqual({ succeeded: 1, pending: 20 });

  // Blocked, the relay sends nothing more: no second batch times out while the alarm lasts.
  await new Promise((r) => setTimeout(r, 6_000));
  expect(logLines(log).filter(timedOut)).toHaveLength(1);
  expect(await locked(ids)).toBe(false);
  expect(await p.states()).toEqual({ succeeded: 1, pending: 20 });

  await broker.alarm(false);
  await p.allFinal(60_000, ids);
  expect(await p.states()).toEqual({ succeeded: 21 });
  const { rows } = await p.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM action_events WHERE to_state = 'running' AND action_id = ANY($1::bigint[])", [ids]);
  expect(rows).toEqual([{ n: 20 }]);
}, 150_000);
