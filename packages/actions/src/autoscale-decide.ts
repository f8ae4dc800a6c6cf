import type { PolicySpec } from './autoscale-policy';

/** What one evaluation measured (PostgreSQL's actions and the fleet's heartbeats). */
export interface ScaleInputs {
  /** Pending, queued and retrying actions of the policy's families. */
  backlog: number;
  /** Age of the oldest of them, seconds (0 without backlog). */
  oldestAgeS: number;
  /** Actions of the families created per second (recent window). */
  arrivalPerS: number;
  /** Completions per slot per second, measured while there was a backlog (undefined: not measured). */
  completionPerSlotPerS: number | undefined;
  /** Servers whose subscriber's heartbeat is present. */
  ready: number;
  /** Servers launched and not ready yet. */
  launching: number;
  /** Servers being drained (they count for nothing). */
  draining: number;
  /** Servers of every policy (ready, launching, draining), for the global cap. */
  fleetServers: number;
  /** Age, seconds, of each input above (when it was measured). */
  ages: Record<string, number>;
}

/** A past evaluation of the same policy, as decide() needs it. */
export interface PastDecision {
  at: number;
  /** What the load called for (clamped to min and max). */
  needed: number;
  action: ScaleAction;
  /** Servers launched (out) or drained (in). */
  count: number;
}

export type ScaleAction = 'out' | 'in' | 'hold' | 'none';

/** What else bounds a decision beyond the policy. */
export interface ScaleContext {
  /** Milliseconds since the epoch (the fake clock in tests). */
  now: number;
  /** publisher.properties policies.fleet_max. */
  fleetMax: number;
  /** The launch breaker is open (too many launch failures in a row). */
  breakerOpen: boolean;
  /** Since when this evaluator has watched the policy (a scale-in needs a whole window of history). */
  watchingSince: number;
}

export interface ScaleDecision {
  action: ScaleAction;
  /** Servers to launch (out) or drain (in); 0 for hold and none. */
  count: number;
  /** What the load calls for, clamped to min and max. */
  needed: number;
  /** The count the fleet would have after the change that was wanted (before any hold or cap). */
  wanted: number;
  /** The count after this decision. */
  decided: number;
  reason: string;
}

const HOUR_MS = 3_600_000;

/** Servers the load calls for, before the age trigger and the bounds. */
function loadNeeds(p: PolicySpec, i: ScaleInputs): number {
  const rate = Math.max(i.completionPerSlotPerS ?? p.rate_per_slot, p.rate_per_slot / 100);
  const demand = i.arrivalPerS + i.backlog / p.target_wait_s;
  const needed = Math.ceil(demand / (rate * p.concurrency) - 1e-9);
  // Activation (0 → 1): any backlog needs one server.
  return i.backlog > 0 ? Math.max(1, needed) : needed;
}

function clamp(n: number, p: PolicySpec): number {
  return Math.min(p.max, Math.max(p.min, n));
}

function staleInput(p: PolicySpec, i: ScaleInputs): string | undefined {
  for (const [name, age] of Object.entries(i.ages))
    if (!(age <= p.stale_after_s))
      return `${name} is ${Number.isFinite(age) ? `${Math.round(age)}s old` : 'missing'} (stale_after_s ${p.stale_after_s})`;
  return undefined;
}

function lastOf(history: readonly PastDecision[], action: ScaleAction): PastDecision | undefined {
  let last: PastDecision | undefined;
  for (const d of history) if (d.action === action && d.count > 0 && (last === undefined || d.at > last.at)) last = d;
  return last;
}

function decision(action: ScaleAction, count: number, needed: number, wanted: number, current: number, reason: string) {
  const decided = action === 'out' ? current + count : action === 'in' ? current - count : current;
  return { action, count, needed, wanted, decided, reason };
}

function scaleOut(
  p: PolicySpec,
  i: ScaleInputs,
  c: ScaleContext,
  h: readonly PastDecision[],
  needed: number,
  why: string,
): ScaleDecision {
  const current = i.ready + i.launching;
  const last = lastOf(h, 'out');
  if (last !== undefined && c.now - last.at < p.cooldown_out_s * 1000)
    return decision(
      'hold',
      0,
      needed,
      needed,
      current,
      `${why}; held: cool-down after the launch ${Math.round((c.now - last.at) / 1000)}s ago (cooldown_out_s ${p.cooldown_out_s})`,
    );
  if (c.breakerOpen) return decision('hold', 0, needed, needed, current, `${why}; held: the launch breaker is open`);
  const launched = h.filter((d) => d.action === 'out' && c.now - d.at < HOUR_MS).reduce((n, d) => n + d.count, 0);
  const caps: [number, string][] = [
    [needed - current, ''],
    [p.step_up_max, `step_up_max ${p.step_up_max}`],
    [p.launches_per_hour - launched, `launches_per_hour ${p.launches_per_hour} (${launched} in the last hour)`],
    [c.fleetMax - i.fleetServers, `policies.fleet_max ${c.fleetMax} (${i.fleetServers} fleet servers)`],
  ];
  const [n, cap] = caps.reduce((a, b) => (b[0] < a[0] ? b : a));
  if (n <= 0) return decision('hold', 0, needed, needed, current, `${why}; held: capped by ${cap}`);
  return decision('out', n, needed, needed, current, cap === '' ? why : `${why}; capped by ${cap}`);
}

function scaleIn(
  p: PolicySpec,
  i: ScaleInputs,
  c: ScaleContext,
  h: readonly PastDecision[],
  needed: number,
): ScaleDecision {
  const current = i.ready + i.launching;
  const windowS = needed === 0 ? Math.max(p.stabilization_s, p.idle_to_zero_s) : p.stabilization_s;
  const since = c.now - windowS * 1000;
  const desired = h.filter((d) => d.at > since).reduce((m, d) => Math.max(m, d.needed), needed);
  // Only ready servers are drained; launching ones are let run (they become ready, or fail).
  const surplus = Math.min(current - desired, i.ready);
  if (surplus <= 0)
    return decision('none', 0, needed, current, current, `steady: ${desired} needed in the last ${windowS}s`);
  const wanted = current - surplus;
  const why = `${current} servers, at most ${desired} needed in the last ${windowS}s`;
  if (c.watchingSince > since)
    return decision(
      'hold',
      0,
      needed,
      wanted,
      current,
      `${why}; held: watched for only ${Math.round((c.now - c.watchingSince) / 1000)}s of the ${windowS}s window`,
    );
  const last = lastOf(h, 'in');
  if (last !== undefined && c.now - last.at < p.cooldown_in_s * 1000)
    return decision(
      'hold',
      0,
      needed,
      wanted,
      current,
      `${why}; held: cool-down after the drain ${Math.round((c.now - last.at) / 1000)}s ago (cooldown_in_s ${p.cooldown_in_s})`,
    );
  const n = Math.min(surplus, p.step_down_max);
  return decision(
    'in',
    n,
    needed,
    wanted,
    current,
    n < surplus ? `${why}; capped by step_down_max ${p.step_down_max}` : why,
  );
}

/**
 * The autoscaling decision: a pure function of the policy, the measured inputs, the context (the
 * clock, the global cap, the breaker) and the policy's recent decisions. `out` launches servers,
 * `in` drains ready ones, `hold` is a change wanted and held back (stale input, cool-down, cap,
 * breaker, a window not yet watched), `none` is nothing to do. See docs/autoscaling.md.
 */
export function decide(
  p: PolicySpec,
  i: ScaleInputs,
  c: ScaleContext,
  history: readonly PastDecision[],
): ScaleDecision {
  const current = i.ready + i.launching;
  const load = loadNeeds(p, i);
  let needed = clamp(load, p);
  let why = `backlog ${i.backlog}, arrivals ${i.arrivalPerS.toFixed(2)}/s: ${load} needed`;
  if (i.backlog > 0 && i.oldestAgeS > p.age_high_s && needed <= current) {
    needed = clamp(current + 1, p);
    why = `oldest action ${Math.round(i.oldestAgeS)}s old (age_high_s ${p.age_high_s}): one more server`;
  }
  const stale = staleInput(p, i);
  if (stale !== undefined && needed !== current)
    return decision('hold', 0, needed, needed, current, `${why}; held: ${stale}`);
  if (needed > current) return scaleOut(p, i, c, history, needed, why);
  if (needed < current) return scaleIn(p, i, c, history, needed);
  return decision('none', 0, needed, current, current, `steady: ${why}`);
}
