import { type GatedAction, gate } from '@cmq/subscriber';

const NOW = new Date('2026-12-07T12:00:00.000Z');

/** A claimed noop of an enabled tenant, first attempt of five, no expiry: it runs. */
function action(over: Partial<GatedAction> = {}): GatedAction {
  return {
    tenant_id: 't1',
    type: 'noop',
    args: {},
    attempts: 1,
    max_attempts: 5,
    expires_at: null,
    tenant_enabled: true,
    ...over,
  };
}

describe('gate: may a claimed action run now?', () => {
  it('runs an action with nothing against it, with its arguments parsed by its schema', () => {
    expect(gate(action({ args: { sleep_ms: 5 } }), 'passive', NOW)).toEqual({
      run: true,
      type: 'noop',
      args: { sleep_ms: 5 },
    });
  });

  it('an action whose expiry has passed (or is now) ends expired, naming when', () => {
    for (const at of [new Date(NOW.getTime() - 1), NOW])
      expect(gate(action({ expires_at: at }), 'dynamic', NOW)).toEqual({
        run: false,
        state: 'expired',
        error: `expired at ${at.toISOString()} before it could run`,
      });
    expect(gate(action({ expires_at: new Date(NOW.getTime() + 1) }), 'dynamic', NOW)).toMatchObject({ run: true });
  });

  it("a disabled tenant's action is rejected, naming the command that enables it", () => {
    expect(gate(action({ tenant_enabled: false }), 'dynamic', NOW)).toEqual({
      run: false,
      state: 'rejected',
      error: 'tenant "t1" is disabled (`cmq tenants enable t1`)',
    });
  });

  it('an action the mode refuses is rejected with the mode and what the type needs', () => {
    const launch = action({ type: 'server.launch', args: { account: '1' } });
    expect(gate(launch, 'passive', NOW)).toEqual({
      run: false,
      state: 'rejected',
      error: 'provisioning.cfg mode=passive refuses server.launch (provisioning actions need mode=dynamic)',
    });
    expect(gate(launch, 'static', NOW)).toEqual({
      run: false,
      state: 'rejected',
      error: 'provisioning.cfg mode=static refuses server.launch (provisioning actions need mode=dynamic)',
    });
    expect(gate(launch, 'dynamic', NOW)).toMatchObject({ run: true, type: 'server.launch' });
    const start = action({ type: 'node.start', args: { node: 'n1' } });
    expect(gate(start, 'passive', NOW)).toEqual({
      run: false,
      state: 'rejected',
      error:
        'provisioning.cfg mode=passive refuses node.start (node and bare-metal actions need mode=static or mode=dynamic)',
    });
    expect(gate(start, 'static', NOW)).toMatchObject({ run: true });
  });

  it('an attempt over max_attempts ends dead: earlier attempts never finished', () => {
    expect(gate(action({ attempts: 6, max_attempts: 5 }), 'passive', NOW)).toEqual({
      run: false,
      state: 'dead',
      error: 'attempt 6 is over max_attempts 5: earlier attempts never finished (their worker died)',
    });
    // The last allowed attempt still runs.
    expect(gate(action({ attempts: 5, max_attempts: 5 }), 'passive', NOW)).toMatchObject({ run: true });
  });

  it('arguments that fail the type schema end dead with each field named', () => {
    expect(gate(action({ args: { sleep_ms: 'slow' } }), 'passive', NOW)).toEqual({
      run: false,
      state: 'dead',
      error: expect.stringMatching(/^args\.sleep_ms: /) as unknown,
    });
    expect(gate(action({ args: { colour: 'red' } }), 'passive', NOW)).toEqual({
      run: false,
      state: 'dead',
      error: 'args: unknown field(s) colour',
    });
  });

  it('an unknown type is rejected: no mode allows it', () => {
    expect(gate(action({ type: 'frobnicate' }), 'dynamic', NOW)).toEqual({
      run: false,
      state: 'rejected',
      error: 'provisioning.cfg mode=dynamic refuses frobnicate (no mode allows it)',
    });
  });

  it('checks in order: expiry, then tenant, then mode, then attempts, then arguments', () => {
    const everything = action({
      type: 'server.launch',
      args: { bogus: true },
      expires_at: new Date(NOW.getTime() - 1),
      tenant_enabled: false,
      attempts: 9,
    });
    expect(gate(everything, 'passive', NOW)).toMatchObject({ state: 'expired' });
    expect(gate({ ...everything, expires_at: null }, 'passive', NOW)).toMatchObject({
      state: 'rejected',
      error: expect.stringContaining('is disabled') as unknown,
    });
    const enabled = { ...everything, expires_at: null, tenant_enabled: true };
    expect(gate(enabled, 'passive', NOW)).toMatchObject({
      state: 'rejected',
      error: expect.stringContaining('mode=passive') as unknown,
    });
    expect(gate(enabled, 'dynamic', NOW)).toMatchObject({
      state: 'dead',
      error: expect.stringContaining('over max_attempts') as unknown,
    });
    expect(gate({ ...enabled, attempts: 1 }, 'dynamic', NOW)).toMatchObject({
      state: 'dead',
      error: expect.stringContaining('args') as unknown,
    });
  });
});
