import {
  type FleetServer,
  type Mode,
  type PastDecision,
  type PolicyRow,
  type ScaleDecision,
  type ScaleInputs,
  backlogFacts,
  closeBreaker,
  decide,
  insertDecision,
  listPolicies,
  liveFleet,
  pastDecisions,
  setDecisionActions,
  setFleetState,
  addFleetServer,
  insertActions,
} from '@cmq/actions';
import {
  type AmqpClient,
  type Component,
  type Database,
  type ErrorReporter,
  type Logger,
  type RedisClient,
  type Sql,
  errorText,
  every,
} from '@cmq/common';
import { FleetExecutor, type Heartbeats, fleetRequest } from './fleet-executor';

export interface AutoscalerOptions {
  database: Database;
  redis: RedisClient;
  /** Drains go over the broker (worker control) first. */
  amqp: AmqpClient;
  logger: Logger;
  actor: string;
  /** provisioning.cfg mode: only `dynamic` evaluates policies. */
  mode: Mode;
  /** Whether this publisher holds the scheduling lease (the sync scheduler's last look). */
  holder: () => boolean;
  /** publisher.properties policies.interval, policies.fleet_max, policies.rate_window. */
  intervalMs: number;
  fleetMax: number;
  rateWindowS: number;
  /** Where the fleet's breaker, drain and orphan warnings are reported (`sentry.dsn`). */
  reporter?: ErrorReporter;
}

const HOUR_S = 3_600;
const LIVE = { ready: ['ready'], launching: ['launching', 'starting'], draining: ['draining', 'terminating'] };

function count(servers: readonly FleetServer[], states: readonly string[]): number {
  return servers.filter((s) => states.includes(s.state)).length;
}

/**
 * The publisher's third job (dynamic mode): evaluates every enabled policy with decide() while
 * this publisher holds the scheduling lease, writes a decision row for every change and every hold,
 * and executes changes through ordinary actions (FleetExecutor). docs/autoscaling.md.
 */
export class Autoscaler implements Component {
  readonly name = 'autoscaler';
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  private watchingSince: number | undefined;
  private readonly history = new Map<string, PastDecision[]>();
  private readonly reported = new Set<string>();
  private readonly executor: FleetExecutor;

  constructor(private readonly o: AutoscalerOptions) {
    this.executor = new FleetExecutor({
      sql: o.database.sql,
      amqp: o.amqp,
      logger: o.logger,
      actor: o.actor,
      ...(o.reporter !== undefined ? { reporter: o.reporter } : {}),
    });
  }

  start(): Promise<void> {
    if (this.o.mode !== 'dynamic') {
      this.o.logger.info(
        { mode: this.o.mode },
        `autoscaling policies are inactive in mode ${this.o.mode} (provisioning.cfg mode=dynamic evaluates them)`,
      );
      return Promise.resolve();
    }
    this.loop = every(
      this.o.intervalMs,
      this.abort.signal,
      () => this.tick(),
      (err) => this.o.logger.warn({ err: errorText(err) }, 'autoscaling evaluation failed; retrying'),
    );
    return Promise.resolve();
  }

  private async heartbeats(): Promise<Heartbeats> {
    const out = new Map<string, { at: number; inFlight: number }>();
    for (const { fields } of await this.o.redis.heartbeats.readAll())
      if (fields.service === 'subscriber' && fields.name !== undefined)
        out.set(fields.name, { at: Date.parse(fields.at ?? ''), inFlight: Number(fields.in_flight ?? 0) });
    return out;
  }

  private async tick(): Promise<void> {
    if (!this.o.holder()) {
      if (this.watchingSince !== undefined)
        this.o.logger.info('not holding the scheduling lease: autoscaling stands by');
      this.watchingSince = undefined;
      this.history.clear();
      return;
    }
    const sql = this.o.database.sql;
    if (this.watchingSince === undefined) {
      this.watchingSince = Date.now();
      this.o.logger.info('holding the scheduling lease: evaluating autoscaling policies');
    }
    const hb = await this.heartbeats();
    const policies = new Map((await listPolicies(sql)).map((p) => [p.name, p]));
    await this.executor.advance(await liveFleet(sql), policies, hb);
    // Read again: the steps just taken may have opened a breaker or freed a server.
    const fleet = await liveFleet(sql);
    for (const p of await listPolicies(sql)) {
      if (!p.enabled) continue;
      await this.evaluate(p, fleet, hb);
      await this.executor.orphans(p, this.reported);
    }
  }

  private async pastOf(p: PolicyRow): Promise<PastDecision[]> {
    let past = this.history.get(p.name);
    if (past === undefined) {
      past = await pastDecisions(this.o.database.sql, p.name, HOUR_S);
      this.history.set(p.name, past);
    }
    const since = Date.now() - HOUR_S * 1000;
    while (past.length > 0 && (past[0]?.at ?? 0) < since) past.shift();
    return past;
  }

  private async inputs(p: PolicyRow, mine: readonly FleetServer[], fleet: readonly FleetServer[], hb: Heartbeats) {
    const facts = await backlogFacts(this.o.database.sql, p.spec.families, this.o.rateWindowS);
    const ready = mine.filter((s) => s.state === 'ready');
    const now = Date.now();
    const beatAge = ready.reduce((m, s) => Math.max(m, (now - (hb.get(s.server_id ?? '')?.at ?? -Infinity)) / 1000), 0);
    const slots = ready.length * p.spec.concurrency;
    const inputs: ScaleInputs = {
      backlog: facts.backlog,
      oldestAgeS: facts.oldest_age_s,
      arrivalPerS: facts.arrived / this.o.rateWindowS,
      completionPerSlotPerS: facts.backlog > 0 && slots > 0 ? facts.completed / this.o.rateWindowS / slots : undefined,
      ready: ready.length,
      launching: count(mine, LIVE.launching),
      draining: count(mine, LIVE.draining),
      fleetServers: fleet.length,
      ages: { actions: 0, heartbeats: beatAge },
    };
    return inputs;
  }

  private async evaluate(p: PolicyRow, fleet: readonly FleetServer[], hb: Heartbeats): Promise<void> {
    const sql = this.o.database.sql;
    if (await closeBreaker(sql, p.name))
      await insertDecision(sql, {
        policy: p.name,
        actor: this.o.actor,
        kind: 'breaker',
        inputs: {},
        needed: null,
        current: 0,
        wanted: 0,
        decided: 0,
        reason: 'launch breaker closed: launches may be tried again',
      });
    const mine = fleet.filter((s) => s.policy === p.name);
    const inputs = await this.inputs(p, mine, fleet, hb);
    const breakerOpen = p.breaker_open_until !== null && p.breaker_open_until.getTime() > Date.now();
    const past = await this.pastOf(p);
    const now = Date.now();
    const d = decide(
      p.spec,
      inputs,
      { now, fleetMax: this.o.fleetMax, breakerOpen, watchingSince: this.watchingSince ?? now },
      past,
    );
    past.push({ at: now, needed: d.needed, action: d.action, count: d.count });
    if (d.action === 'none') return;
    const { actions, drains } = await this.o.database.transaction((tx) => this.record(tx, p, inputs, d, mine, hb));
    this.o.logger.info(
      { policy: p.name, action: d.action, count: d.count, decided: d.decided, actions, drains },
      d.reason,
    );
    for (const s of drains) await this.executor.drain(s);
  }

  /** The decision row and its actions, in one transaction. */
  private async record(
    tx: Sql,
    p: PolicyRow,
    inputs: ScaleInputs,
    d: ScaleDecision,
    mine: readonly FleetServer[],
    hb: Heartbeats,
  ): Promise<{ actions: string[]; drains: FleetServer[] }> {
    const current = inputs.ready + inputs.launching;
    const id = await insertDecision(tx, {
      policy: p.name,
      actor: this.o.actor,
      kind: d.action as 'out' | 'in' | 'hold',
      inputs: { ...inputs },
      needed: d.needed,
      current,
      wanted: d.wanted,
      decided: d.decided,
      reason: d.reason,
    });
    const emit = async (type: string, args: Record<string, unknown>, key: string) =>
      (
        await insertActions((fn) => fn(tx), [fleetRequest(type, 'provision', args, key)], this.o.actor, {
          mode: 'dynamic',
        })
      )[0] as string;
    const actions: string[] = [];
    const drains: FleetServer[] = [];
    if (d.action === 'out') {
      for (let k = 0; k < d.count; k++) {
        const args = {
          account: p.account_id,
          name: `cmq-fleet-${p.name}-${id}-${k}`,
          ...(p.spec.image !== undefined ? { image: p.spec.image } : {}),
          ...(p.spec.size !== undefined ? { size: p.spec.size } : {}),
        };
        const launch = await emit('server.launch', args, `autoscale:${id}:launch:${k}`);
        await addFleetServer(tx, { launchActionId: launch, policy: p.name, decisionId: id, account: p.account_id });
        actions.push(launch);
      }
    } else if (d.action === 'in') {
      // Idle servers first (nothing in flight), then the oldest. The drain itself is sent once
      // this transaction committed (FleetExecutor.drain); a crash before leaves the row draining
      // and the executor sends it then.
      const idle = (s: FleetServer) => hb.get(s.server_id ?? '')?.inFlight ?? 0;
      const ready = mine.filter((s) => s.state === 'ready').sort((a, b) => idle(a) - idle(b));
      for (const s of ready.slice(0, d.count)) {
        await setFleetState(tx, s.launch_action_id, 'draining', { drainStarted: true });
        drains.push(s);
      }
    }
    if (actions.length > 0) await setDecisionActions(tx, id, actions);
    return { actions, drains };
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  destroy(): void {
    this.abort.abort();
  }
}
