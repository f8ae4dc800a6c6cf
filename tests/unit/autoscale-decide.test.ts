import {
  type PastDecision,
  type PolicySpec,
  type ScaleContext,
  type ScaleInputs,
  checkPolicy,
  decide,
} from '@cmq/actions';

function policy(over: Record<string, unknown> = {}): PolicySpec {
  const checked = checkPolicy({
    families: ['control'],
    account: '1',
    start_cmd: 'start',
    stop_cmd: 'stop',
    status_cmd: 'status',
    min: 0,
    max: 10,
    concurrency: 4,
    rate_per_slot: 1,
    target_wait_s: 10,
    age_high_s: 60,
    step_up_max: 2,
    step_down_max: 1,
    stabilization_s: 60,
    cooldown_out_s: 20,
    cooldown_in_s: 30,
    idle_to_zero_s: 90,
    launches_per_hour: 5,
    stale_after_s: 30,
    ...over,
  });
  if (!checked.ok) throw new Error(checked.error);
  return checked.spec;
}

function inputs(over: Partial<ScaleInputs> = {}): ScaleInputs {
  return {
    backlog: 0,
    oldestAgeS: 0,
    arrivalPerS: 0,
    completionPerSlotPerS: undefined,
    ready: 0,
    launching: 0,
    draining: 0,
    fleetServers: 0,
    ages: { backlog: 0, heartbeats: 0 },
    ...over,
  };
}

/**
 * A fake fleet driven by decide() on a fake clock: each step the load is given, servers launched
 * become ready at once, drained ones go at once. Returns every decision in order.
 */
function simulate(
  p: PolicySpec,
  steps: { at: number; backlog: number; arrival?: number; age?: number }[],
  start = { ready: 0 },
  ctx: Partial<ScaleContext> = {},
): { at: number; action: string; count: number; size: number; reason: string }[] {
  const history: PastDecision[] = [];
  let ready = start.ready;
  const out = [];
  for (const s of steps) {
    const now = s.at * 1000;
    const d = decide(
      p,
      inputs({ backlog: s.backlog, arrivalPerS: s.arrival ?? 0, oldestAgeS: s.age ?? 0, ready, fleetServers: ready }),
      { now, fleetMax: 100, breakerOpen: false, watchingSince: 0, ...ctx },
      history,
    );
    history.push({ at: now, needed: d.needed, action: d.action, count: d.count });
    ready = d.decided;
    out.push({ at: s.at, action: d.action, count: d.count, size: ready, reason: d.reason });
  }
  return out;
}

const every = (from: number, to: number, stepS: number, load: (t: number) => number) =>
  Array.from({ length: Math.floor((to - from) / stepS) + 1 }, (_, k) => {
    const at = from + k * stepS;
    return { at, backlog: load(at) };
  });

describe('decide(): the autoscaling decision on a fake clock', () => {
  it('a burst scales out by step_up_max per cool-down, and launches per hour cap the total', () => {
    // 4,000 waiting, 10 s target, 4 slots of 1/s: far more than max 10 servers are called for.
    const run = simulate(
      policy(),
      every(0, 200, 5, () => 4_000),
    );
    const outs = run.filter((r) => r.action === 'out');
    expect(outs.map((r) => [r.at, r.count])).toEqual([
      [0, 2],
      [20, 2],
      [40, 1],
    ]);
    expect(outs[2]?.reason).toContain('launches_per_hour 5 (4 in the last hour)');
    expect(run.at(-1)?.size).toBe(5);
    // Inside the cool-down, and once the hour's launches are spent: held, saying why.
    expect(run.find((r) => r.at === 5)).toMatchObject({ action: 'hold' });
    expect(run.find((r) => r.at === 5)?.reason).toContain('cooldown_out_s 20');
    expect(run.find((r) => r.at === 200)?.reason).toContain('capped by launches_per_hour');
  });

  it('the global fleet cap holds a launch the policy would make', () => {
    const d = decide(
      policy(),
      inputs({ backlog: 400, ready: 1, fleetServers: 8 }),
      {
        now: 0,
        fleetMax: 8,
        breakerOpen: false,
        watchingSince: 0,
      },
      [],
    );
    expect(d).toMatchObject({ action: 'hold', count: 0, decided: 1 });
    expect(d.reason).toContain('capped by policies.fleet_max 8');
  });

  it('oscillating load does not flap inside the stabilization window', () => {
    // Needs alternate between 3 and 1 servers every 10 s for two minutes.
    const run = simulate(
      policy({ step_up_max: 4 }),
      every(0, 120, 10, (t) => (t % 20 === 0 ? 110 : 30)),
    );
    expect(run[0]).toMatchObject({ action: 'out', count: 3, size: 3 });
    expect(run.slice(1).filter((r) => r.action === 'in' || r.action === 'out')).toEqual([]);
    expect(run.every((r, k) => k === 0 || r.size === 3)).toBe(true);
  });

  it('a stale input holds any change, and says which input', () => {
    const p = policy();
    const ctx = { now: 0, fleetMax: 100, breakerOpen: false, watchingSince: -1e9 };
    const out = decide(p, inputs({ backlog: 400, ages: { backlog: 0, heartbeats: 45 } }), ctx, []);
    expect(out).toMatchObject({ action: 'hold', count: 0, decided: 0 });
    expect(out.reason).toContain('heartbeats is 45s old (stale_after_s 30)');
    const idle = decide(p, inputs({ ready: 3, ages: { backlog: 90, heartbeats: 0 } }), ctx, []);
    expect(idle).toMatchObject({ action: 'hold', decided: 3 });
    expect(idle.reason).toContain('backlog is 90s old');
    const gone = decide(p, inputs({ backlog: 400, ages: { heartbeats: Infinity } }), ctx, []);
    expect(gone.reason).toContain('heartbeats is missing (stale_after_s 30)');
    // Nothing to change: a stale input is no reason for a row.
    expect(decide(p, inputs({ ready: 0, ages: { backlog: 90 } }), ctx, []).action).toBe('none');
  });

  it('a high oldest age with a low backlog scales out by one', () => {
    const p = policy();
    const ctx = { now: 0, fleetMax: 100, breakerOpen: false, watchingSince: 0 };
    const young = decide(p, inputs({ backlog: 2, oldestAgeS: 10, ready: 1 }), ctx, []);
    expect(young.action).toBe('none');
    const old = decide(p, inputs({ backlog: 2, oldestAgeS: 300, ready: 1 }), ctx, []);
    expect(old).toMatchObject({ action: 'out', count: 1, decided: 2 });
    expect(old.reason).toContain('oldest action 300s old (age_high_s 60)');
  });

  it('min and max bound the fleet whatever the load', () => {
    const p = policy({ min: 2, max: 3, step_up_max: 10, launches_per_hour: 100 });
    const ctx = { now: 0, fleetMax: 100, breakerOpen: false, watchingSince: -1e9 };
    expect(decide(p, inputs({ backlog: 0 }), ctx, [])).toMatchObject({ action: 'out', count: 2, decided: 2 });
    expect(decide(p, inputs({ backlog: 10_000, ready: 2 }), ctx, [])).toMatchObject({
      action: 'out',
      count: 1,
      decided: 3,
    });
    expect(decide(p, inputs({ backlog: 10_000, ready: 3, oldestAgeS: 1e4 }), ctx, []).action).toBe('none');
    expect(decide(p, inputs({ backlog: 0, ready: 2 }), ctx, []).action).toBe('none');
    // Above max (a policy lowered): in, one step at a time.
    expect(decide(p, inputs({ ready: 5 }), ctx, [])).toMatchObject({ action: 'in', count: 1, decided: 4 });
  });

  it('scales to zero only after idle_to_zero_s without load, one server per cool-down, and back on the next backlog', () => {
    const p = policy({ step_up_max: 4, launches_per_hour: 10 });
    const load = (t: number) => (t < 30 ? 200 : t >= 400 ? 5 : 0);
    const run = simulate(p, every(0, 410, 10, load));
    const changes = run.filter((r) => r.action === 'in' || r.action === 'out').map((r) => [r.at, r.action, r.count]);
    // Out to 4 at once (200 waiting, 10 s target, 4 slots of 1/s: 5 needed, capped by the step),
    // the fifth after the 20 s cool-down; idle from 30 s: the 90 s idle window (longer than the
    // stabilization window) after the last need at 20 s ends at 110 s, then one server per 30 s
    // cool-down; at 400 s a small backlog activates one server again.
    expect(changes).toEqual([
      [0, 'out', 4],
      [20, 'out', 1],
      [110, 'in', 1],
      [140, 'in', 1],
      [170, 'in', 1],
      [200, 'in', 1],
      [230, 'in', 1],
      [400, 'out', 1],
    ]);
    expect(run.find((r) => r.at === 390)?.size).toBe(0);
    expect(run.at(-1)?.size).toBe(1);
  });

  it('a scale-in waits until the evaluator has watched a whole window (after a failover)', () => {
    const p = policy();
    const d = decide(
      p,
      inputs({ ready: 3 }),
      { now: 100_000, fleetMax: 100, breakerOpen: false, watchingSince: 80_000 },
      [],
    );
    expect(d).toMatchObject({ action: 'hold', decided: 3 });
    expect(d.reason).toContain('watched for only 20s of the 90s window');
  });

  it('an open breaker holds launches', () => {
    const d = decide(
      policy(),
      inputs({ backlog: 100 }),
      { now: 0, fleetMax: 100, breakerOpen: true, watchingSince: 0 },
      [],
    );
    expect(d).toMatchObject({ action: 'hold', decided: 0 });
    expect(d.reason).toContain('the launch breaker is open');
  });
});

describe('checkPolicy', () => {
  it('refuses a bad policy naming every field', () => {
    const bad = checkPolicy({
      families: ['nope'],
      account: 'x',
      start_cmd: 's',
      stop_cmd: 's',
      status_cmd: 's',
      min: 5,
      max: 2,
      cooldown_in_s: -1,
      colour: 'red',
    });
    expect(bad.ok).toBe(false);
    const error = bad.ok ? '' : bad.error;
    expect(error).toContain('families.0:');
    expect(error).toContain('account: an account id');
    expect(error).toContain('cooldown_in_s:');
    expect(error).toContain('policy: unknown field(s) colour');
  });
  it('refuses min above max, naming min', () => {
    const bad = checkPolicy({
      families: ['control'],
      account: '1',
      start_cmd: 's',
      stop_cmd: 's',
      status_cmd: 's',
      min: 5,
      max: 2,
    });
    expect(bad).toEqual({ ok: false, error: 'min: min 5 is above max 2' });
  });
});
