import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { actionRow, countActions, listActions, waitForFinal } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { execFileP, recordingCmq, runCmq, runCmqWithInput } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { Sshd } from '../helpers/sshd';
import { waitFor } from '../helpers/wait';
import { textsUnder } from '../helpers/files';

// Invariant 6 for arguments: guest.exec env values are stored encrypted, given to the command,
// and masked in the result, every `cmq` output, every log and every broker message.

const SECRET = `tok-${randomBytes(12).toString('hex')}`;
const HASH = createHash('sha256').update(SECRET).digest('hex');
// The command proves it got the value (its hash) and echoes the value itself on both streams.
const COMMAND = 'echo "hash $(printf %s "$TOKEN" | sha256sum | cut -c1-64)"; echo "out $TOKEN"; echo "err $TOKEN" >&2';
const EXPECTED = { code: 0, stdout: `hash ${HASH}\nout ****\n`, stderr: 'err ****\n', truncated: false };
const DIRECT_ID = `direct-${randomBytes(4).toString('hex')}`;

let pipe: Pipeline;
let sshd: Sshd;
let broker: ChannelModel;
let channel: Channel;
const outputs: string[] = [];
const messages: ConsumeMessage[] = [];
const cmq = recordingCmq(() => pipe.dir, outputs);

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Every message cmq publishes on cmq.actions and cmq.dead, copied to a queue of the test's own. */
async function captureBroker(): Promise<void> {
  broker = await brokerConnection(pipe.vhost);
  channel = await broker.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true });
  await channel.bindQueue(queue, 'cmq.actions', '#');
  await channel.bindQueue(queue, 'cmq.dead', '');
  await channel.consume(queue, (msg) => (msg === null ? undefined : messages.push(msg)), { noAck: true });
}

function publishDirect(tenant: string, messageId: string): void {
  const body = { type: 'guest.exec', tenant, args: { guest: 'web1', command: COMMAND, env: { TOKEN: SECRET } } };
  channel.publish('cmq.actions', `guest.guest.exec.${tenant}`, Buffer.from(JSON.stringify(body)), { messageId });
}

function call(args: Record<string, unknown>, dir?: string): ReturnType<typeof cmq> {
  const json = JSON.stringify({ command: COMMAND, env: { TOKEN: SECRET }, ...args });
  return cmq(['call', 'guest.exec', '--tenant', 't1', '--args', json, '--wait', '--timeout', '30'], dir);
}

/** `cmq call --stdin` with `input`, its outputs recorded. */
async function callStdin(input: string, dir: string): Promise<{ code: number | null; stderr: string }> {
  const res = await runCmqWithInput(['call', '--stdin', '--config-dir', dir], input);
  outputs.push(res.stdout, res.stderr);
  return res;
}

beforeAll(async () => {
  sshd = await Sshd.start();
  pipe = await Pipeline.create({
    config: {
      'km-client.cfg': {},
      'provisioning.cfg': { SOURCE_CIDR: '127.0.0.0/8' },
      'publisher.properties': { 'logs.collect_interval': '24h' },
    },
  });
  const keys = join(pipe.dir, 'km.keys');
  expect((await runCmq(['keys', 'generate', '--out', keys, '--id', 'k1'])).code).toBe(0);
  writeFileSync(join(pipe.dir, 'km-client.cfg'), `km.keys_file=${keys}\nkm.active_key_id=k1\n`);
  await pipe.addTenants('t1');
  pipe.start('publisher');
  pipe.start('subscriber');
  await pipe.running('publisher', 'main');
  await pipe.running('subscriber', 'default');
  await captureBroker();
  expect((await cmq([...sshd.guestAddArgs('t1'), '--name', 'web1'])).code).toBe(0);
});

afterAll(async () => {
  await broker?.close().catch(() => undefined);
  await pipe.destroy();
  await sshd.stop();
});

describe('secret arguments of guest.exec', () => {
  it('cmq call --wait: the command got the value; the result and every cmq view of it show "****"', async () => {
    const res = await call({ guest: 'web1' });
    expect(res.code).toBe(0);
    const [id = '', state, result] = lines(res.stdout);
    expect(state).toBe(`${id} succeeded`);
    expect(JSON.parse(result ?? '')).toEqual(EXPECTED);
    const row = await actionRow(pipe.pool, id);
    expect(row.args).toEqual({ guest: 'web1', command: COMMAND, env: { TOKEN: '****' } });
    expect(row.secret_args).toMatch(/^v1:k1:/);
    for (const view of [
      ['result', id],
      ['actions', 'show', id],
    ]) {
      const out = await cmq(view);
      expect(out.code).toBe(0);
      expect(out.stdout).toContain('****');
    }
    const listed = await cmq(['actions', '--tenant', 't1', '--type', 'guest.exec']);
    expect(listed.stdout).toContain(id);
  });

  it('a request published straight onto the broker is sealed by the subscriber, and runs with the value', async () => {
    publishDirect('t1', DIRECT_ID);
    let id = '';
    await waitFor(
      async () => {
        id = (await listActions(pipe.pool, { idempotencyKey: `amqp:${DIRECT_ID}` }))[0]?.id ?? '';
        return id !== '';
      },
      30_000,
      'the direct request taken in',
    );
    const row = await waitForFinal(pipe.pool, id, 30_000);
    expect(row).toMatchObject({ state: 'succeeded', result: EXPECTED, args: { env: { TOKEN: '****' } } });
    expect((await cmq(['result', id])).stdout).toContain(`hash ${HASH}`);
  });

  it('dead actions and dead letters keep it masked: cmq dead, the cmq.dead copies; a masked one is not replayed', async () => {
    const dead = await call({ guest: 'no-such-guest' });
    expect(dead.code).toBe(1);
    const [id = ''] = lines(dead.stdout);
    expect(dead.stdout).toContain(`${id} dead`);
    publishDirect('ghost', `${DIRECT_ID}-ghost`);
    let letter = '';
    await waitFor(
      async () => {
        const { rows } = await pipe.pool.query<{ id: string }>(
          'SELECT id::text FROM dead_letters WHERE reason LIKE \'%unknown tenant "ghost"%\'',
        );
        letter = rows[0]?.id ?? '';
        return letter !== '';
      },
      30_000,
      'the dead letter of the request for an unknown tenant',
    );
    const copies = (): ConsumeMessage[] => messages.filter((m) => m.fields.exchange === 'cmq.dead');
    await waitFor(() => copies().length >= 2, 30_000, 'two copies on cmq.dead');
    for (const copy of copies()) expect(copy.content.toString()).toContain('"TOKEN":"****"');
    expect((await cmq(['dead', 'show', `m${letter}`])).stdout).toContain('****');
    expect((await cmq(['dead', 'show', id])).code).toBe(0);
    expect((await cmq(['dead', 'list'])).code).toBe(0);
    const replay = await cmq(['dead', 'replay', `m${letter}`]);
    expect(replay.code).toBe(1);
    expect(replay.stderr).toContain('its secret args.env.TOKEN was masked when it was dead-lettered');
  });

  it('without a keyring (km.keys_file unset) a secret is refused naming km-client.cfg km.keys_file; nothing inserted', async () => {
    const bare = mkdtempSync(join(tmpdir(), 'cmq-no-km-'));
    cpSync(pipe.dir, bare, { recursive: true });
    writeFileSync(join(bare, 'km-client.cfg'), '');
    const before = await countActions(pipe.pool);
    const res = await call({ guest: 'web1' }, bare);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(
      'args.env.TOKEN is a secret argument, stored only encrypted with the keyring of km-client.cfg, and km.keys_file is not set there',
    );
    const secretLine = {
      type: 'guest.exec',
      tenant: 't1',
      args: { guest: 'web1', command: 'true', env: { TOKEN: SECRET } },
    };
    const stdin = await callStdin(`{"type":"noop","tenant":"t1"}\n${JSON.stringify(secretLine)}\n`, bare);
    expect(stdin.code).toBe(2);
    expect(stdin.stderr).toContain('line 2: args.env.TOKEN is a secret argument');
    expect(await countActions(pipe.pool)).toBe(before);
  });

  it('the value is in no row of the database, no cmq output, no log file, no broker message', async () => {
    const dump = await execFileP('pg_dump', ['-h', '127.0.0.1', '-U', 'postgres', '--data-only', pipe.database], {
      maxBuffer: 256 * 1024 * 1024,
    });
    expect(dump.stdout).toContain('v1:k1:');
    expect(dump.stdout).toContain(`hash ${HASH}`);
    expect(dump.stdout).not.toContain(SECRET);
    const logs = textsUnder(pipe.logDir);
    expect(logs.join('\n')).toContain('ssh output');
    for (const text of [...logs, ...outputs]) expect(text).not.toContain(SECRET);
    const published = messages.filter((m) => !String(m.properties.messageId).startsWith(DIRECT_ID));
    expect(published.length).toBeGreaterThanOrEqual(5);
    for (const m of published) {
      expect(m.content.toString()).not.toContain(SECRET);
      expect(JSON.stringify(m.properties.headers ?? {})).not.toContain(SECRET);
    }
  });
});
