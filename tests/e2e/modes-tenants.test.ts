import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { listDead } from '@cmq/actions';
import { actionRow, countActions, countEvents } from '../helpers/actions';
import { Pipeline } from '../helpers/pipeline';
import { type CmqRun, runCmqWithInput } from '../helpers/process';
import { brokerConnection } from '../helpers/services';
import { waitFor } from '../helpers/wait';

// The subscriber runs with mode=passive throughout; the CLI's mode is rewritten per case.
let pipe: Pipeline;

function cmq(args: string[], input = ''): Promise<CmqRun> {
  return runCmqWithInput([...args, '--config-dir', pipe.dir], input);
}

function setMode(mode: string): void {
  writeFileSync(join(pipe.dir, 'provisioning.cfg'), `mode=${mode}\n`);
}

const REFUSES = {
  passive: {
    'server.launch': 'provisioning.cfg mode=passive refuses server.launch (provisioning actions need mode=dynamic)',
    'node.start':
      'provisioning.cfg mode=passive refuses node.start (node and bare-metal actions need mode=static or mode=dynamic)',
  },
  static: {
    'server.launch': 'provisioning.cfg mode=static refuses server.launch (provisioning actions need mode=dynamic)',
  },
} as const;
const ARGS: Record<string, string> = {
  'server.launch': '{"account":"1"}',
  'node.start': '{"node":"n1"}',
  noop: '{}',
  ping: '{}',
};

beforeAll(async () => {
  pipe = await Pipeline.create({ config: { 'provisioning.cfg': { mode: 'passive' } } });
  await pipe.addTenants('t1', 't2');
  await pipe.startPublisherAndSubscriber();
});

afterAll(async () => {
  await pipe.destroy();
});

describe('operating modes', () => {
  it('passive: noop and ping run; server.* and node.* are refused at intake (call and --stdin) with the mode named', async () => {
    setMode('passive');
    for (const type of ['noop', 'ping']) {
      const ok = await cmq(['call', type, '--tenant', 't1', '--wait']);
      expect({ type, code: ok.code }).toEqual({ type, code: 0 });
      expect(ok.stdout).toContain('succeeded');
    }
    for (const [type, reason] of Object.entries(REFUSES.passive)) {
      const res = await cmq(['call', type, '--tenant', 't1', '--args', ARGS[type] as string]);
      expect(res.code).toBe(2);
      expect(res.stderr).toContain(reason);
    }
    const bulk = await cmq(
      ['call', '--stdin'],
      `{"type":"noop","tenant":"t1"}\n{"type":"server.launch","tenant":"t1","args":{"account":"1"}}\n`,
    );
    expect(bulk.code).toBe(2);
    expect(bulk.stderr).toContain(`line 2: ${REFUSES.passive['server.launch']}`);
    expect(bulk.stderr).toContain('nothing inserted');
  });

  it('static allows node.* but not server.*; dynamic allows both', async () => {
    setMode('static');
    const node = await cmq(['call', 'node.start', '--tenant', 't1', '--args', ARGS['node.start'] as string]);
    expect(node.code).toBe(0);
    const server = await cmq(['call', 'server.launch', '--tenant', 't1', '--args', ARGS['server.launch'] as string]);
    expect(server.code).toBe(2);
    expect(server.stderr).toContain(REFUSES.static['server.launch']);
    setMode('dynamic');
    for (const type of ['server.launch', 'node.start', 'noop']) {
      const res = await cmq(['call', type, '--tenant', 't1', '--args', ARGS[type] as string]);
      expect({ type, code: res.code }).toEqual({ type, code: 0 });
    }
  });

  it('the subscriber (mode=passive) rejects a claimed action its mode refuses, with the reason; a final state', async () => {
    setMode('dynamic');
    const ids = await Promise.all(
      ['server.launch', 'node.start'].map(async (type) =>
        (await cmq(['call', type, '--tenant', 't2', '--args', ARGS[type] as string])).stdout.trim(),
      ),
    );
    await pipe.allFinal(30_000, ids);
    expect(await actionRow(pipe.pool, ids[0] as string)).toMatchObject({
      state: 'rejected',
      error: REFUSES.passive['server.launch'],
    });
    expect(await actionRow(pipe.pool, ids[1] as string)).toMatchObject({
      state: 'rejected',
      error: REFUSES.passive['node.start'],
    });
    expect(await countEvents(pipe.pool, { ids, to: 'rejected' })).toBe(2);
  });
});

describe('tenants disable|enable', () => {
  it('a disabled tenant is refused at intake; its action submitted before ends rejected when it comes due; enabled again, it runs', async () => {
    setMode('passive');
    // Due in an hour, made due only once the tenant is disabled: however slow the CLI, the claim
    // comes after the disable.
    const later = (await cmq(['call', 'noop', '--tenant', 't2', '--countdown', '3600'])).stdout.trim();
    const off = await cmq(['tenants', 'disable', 't2']);
    expect(off).toMatchObject({ code: 0, stdout: 'disabled tenant t2\n' });
    await pipe.pool.query('UPDATE actions SET not_before = now() WHERE id = $1', [later]);
    expect((await cmq(['tenants', 'disable', 't2'])).stdout).toBe('already disabled: tenant t2\n');
    const listed = await cmq(['tenants', 'list', '--json']);
    expect(listed.stdout).toContain('"id":"t2","name":"t2","enabled":false');
    const refused = await cmq(['call', 'noop', '--tenant', 't2']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('tenant "t2" is disabled (`cmq tenants enable t2`)');
    const bulk = await cmq(['call', '--stdin'], '{"type":"noop","tenant":"t1"}\n{"type":"noop","tenant":"t2"}\n');
    expect(bulk.code).toBe(2);
    expect(bulk.stderr).toContain('line 2: tenant: tenant "t2" is disabled');
    await pipe.allFinal(30_000, [later]);
    expect(await actionRow(pipe.pool, later)).toMatchObject({
      state: 'rejected',
      error: 'tenant "t2" is disabled (`cmq tenants enable t2`)',
    });
    expect((await cmq(['tenants', 'enable', 't2'])).stdout).toBe('enabled tenant t2\n');
    const ok = await cmq(['call', 'noop', '--tenant', 't2', '--wait']);
    expect(ok.code).toBe(0);
    const unknown = await cmq(['tenants', 'disable', 'nobody']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('unknown tenant "nobody"');
  });
});

describe('direct intake (requests published straight onto cmq.actions)', () => {
  it("a type the subscriber's mode refuses, and a disabled tenant's request, are dead-lettered with the reason", async () => {
    expect((await cmq(['tenants', 'disable', 't2'])).code).toBe(0);
    const conn = await brokerConnection(pipe.vhost);
    const ch = await conn.createConfirmChannel();
    ch.publish(
      'cmq.actions',
      'provision.server.launch.t1',
      Buffer.from(JSON.stringify({ tenant: 't1', type: 'server.launch', args: { account: '1' } })),
    );
    ch.publish('cmq.actions', 'control.noop.t2', Buffer.from(JSON.stringify({ tenant: 't2', type: 'noop', args: {} })));
    await ch.waitForConfirms();
    await conn.close();
    const reasons = async (): Promise<string[]> =>
      (await listDead(pipe.pool, { limit: 100 })).filter((d) => d.id.startsWith('m')).map((d) => d.reason);
    await waitFor(async () => (await reasons()).length >= 2, 20_000, 'two dead messages');
    expect((await reasons()).sort()).toEqual([
      REFUSES.passive['server.launch'],
      'tenant: tenant "t2" is disabled (`cmq tenants enable t2`)',
    ]);
    expect(await countActions(pipe.pool, { type: 'server.launch', tenant: 't1', notState: 'rejected' })).toBe(0);
    await cmq(['tenants', 'enable', 't2']);
  });
});
