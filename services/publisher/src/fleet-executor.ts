import {
  type ActionRequest,
  type FleetServer,
  type NodeCommands,
  PLATFORM_TENANT,
  type PolicyRow,
  countLaunch,
  hasOrphanReport,
  insertActions,
  insertDecision,
  registerFleetNode,
  removeNode,
  sendControl,
  setDecisionActions,
  setFleetState,
  unknownServers,
} from '@cmq/actions';
import { type AmqpClient, type ErrorReporter, type Family, type Logger, type Sql, errorText } from '@cmq/common';

/** The subscribers' heartbeats by process name: a fleet server's subscriber is named after the server. */
export type Heartbeats = ReadonlyMap<string, { at: number; inFlight: number }>;

const ENDED = new Set(['failed', 'dead', 'expired', 'cancelled', 'rejected']);
/** A launched server not running this long after its launch (server.await gives up at 10 min) failed. */
const LAUNCH_TIMEOUT_MS = 15 * 60_000;
/** How long a drain sent over the broker waits for its reply. */
const DRAIN_REPLY_MS = 3_000;
/** A draining server still beating this long after the drain began, with no stop command run yet, gets one. */
const DRAIN_FALLBACK_MS = 15_000;

/** A fleet action of the platform tenant, keyed so that a rerun of the same step inserts nothing new. */
export function fleetRequest(type: string, family: Family, args: Record<string, unknown>, key: string): ActionRequest {
  return {
    type,
    family,
    tenant: PLATFORM_TENANT,
    args,
    idempotencyKey: key,
    notBefore: null,
    expiresAt: null,
    priority: 10,
    maxAttempts: 5,
  };
}

/** The policy's bootstrap commands for one server: `{server}`, `{queues}` and `{concurrency}` filled in. */
export function nodeCommands(p: PolicyRow, server: string): NodeCommands {
  const queues = (p.spec.queues ?? p.spec.families).join(',');
  const fill = (cmd: string) =>
    cmd
      .replaceAll('{server}', server)
      .replaceAll('{queues}', queues)
      .replaceAll('{concurrency}', String(p.spec.concurrency));
  return { start: fill(p.spec.start_cmd), stop: fill(p.spec.stop_cmd), status: fill(p.spec.status_cmd) };
}

export interface FleetExecutorOptions {
  sql: Sql;
  amqp: AmqpClient;
  logger: Logger;
  actor: string;
  /** Where a breaker opening, a drain bound passed or an orphan is reported to operators (`sentry.dsn`). */
  reporter?: ErrorReporter;
}

/**
 * Moves each fleet server along: launched → node registered and started (node.start) → ready when
 * its subscriber's heartbeat appears; draining → terminated (server.terminate) once its heartbeat
 * is gone or the drain bound passed (reported); launch failures counted for the breaker. Every
 * step is an ordinary action with an idempotency key derived from the launch, so a step repeated
 * after a crash inserts nothing new.
 */
export class FleetExecutor {
  /** When each ready server's subscriber was last seen beating (this process's own look). */
  private readonly lastBeat = new Map<string, number>();

  constructor(private readonly o: FleetExecutorOptions) {}

  private async emit(req: ActionRequest): Promise<string> {
    const [id] = await insertActions((fn) => fn(this.o.sql), [req], this.o.actor, { mode: 'dynamic' });
    return id as string;
  }

  private async report(
    p: PolicyRow,
    kind: 'breaker' | 'drain' | 'orphan',
    reason: string,
    inputs = {},
    actions: string[] = [],
  ) {
    this.o.logger.warn({ policy: p.name, kind }, reason);
    this.o.reporter?.captureMessage(reason, {
      kind: 'warning',
      code: `autoscale_${kind}`,
      type: `autoscale.${p.name}`,
      extra: { policy: p.name, inputs },
    });
    const id = await insertDecision(this.o.sql, {
      policy: p.name,
      actor: this.o.actor,
      kind,
      inputs,
      needed: null,
      current: 0,
      wanted: 0,
      decided: 0,
      reason,
    });
    if (actions.length > 0) await setDecisionActions(this.o.sql, id, actions);
  }

  async advance(
    fleet: readonly FleetServer[],
    policies: ReadonlyMap<string, PolicyRow>,
    hb: Heartbeats,
  ): Promise<void> {
    for (const f of fleet) {
      const p = policies.get(f.policy);
      if (p === undefined) continue;
      if (f.state === 'launching') await this.launching(f, p);
      else if (f.state === 'starting') await this.starting(f, p, hb);
      else if (f.state === 'ready') await this.ready(f, p, hb);
      else if (f.state === 'draining') await this.draining(f, p, hb);
      else if (f.state === 'terminating') await this.terminating(f);
    }
  }

  private async launchFailed(f: FleetServer, p: PolicyRow, why: string): Promise<void> {
    await setFleetState(this.o.sql, f.launch_action_id, 'failed');
    this.o.logger.warn({ policy: p.name, launch: f.launch_action_id }, `fleet launch failed: ${why}`);
    if (await countLaunch(this.o.sql, p.name, false, p.spec.breaker_failures, p.spec.breaker_open_s))
      await this.report(
        p,
        'breaker',
        `launch breaker opened: ${p.spec.breaker_failures} launch failures in a row (the last: ${why}); no launch for ${p.spec.breaker_open_s}s`,
        { launch_action: f.launch_action_id },
      );
  }

  private async launching(f: FleetServer, p: PolicyRow): Promise<void> {
    if (ENDED.has(f.launch_state))
      return this.launchFailed(f, p, `server.launch ${f.launch_action_id} ended ${f.launch_state}`);
    const server = f.recorded_server;
    if (Date.now() - f.created_at.getTime() > LAUNCH_TIMEOUT_MS) {
      await this.launchFailed(f, p, `not running ${LAUNCH_TIMEOUT_MS / 60_000} min after its launch`);
      if (server !== null) await this.terminate(f, server);
      return;
    }
    if (server === null) return;
    if (f.recorded_state === 'gone' || f.recorded_state === 'terminated') {
      await setFleetState(this.o.sql, f.launch_action_id, 'failed', { serverId: server });
      return this.launchFailed(f, p, `server ${server} is ${f.recorded_state} before it ran`);
    }
    if (f.recorded_state !== 'running' || f.guest_id === null) return;
    if (!(await registerFleetNode(this.o.sql, PLATFORM_TENANT, f.guest_id, server, nodeCommands(p, server)))) {
      // No host key yet: a first contact pins it (the platform launched the server).
      await this.emit(
        fleetRequest(
          'guest.exec',
          'guest',
          { guest: f.guest_id, command: 'true' },
          `autoscale:pin:${f.launch_action_id}`,
        ),
      );
      return;
    }
    await countLaunch(this.o.sql, p.name, true, p.spec.breaker_failures, p.spec.breaker_open_s);
    const start = await this.emit(
      fleetRequest('node.start', 'provision', { node: server }, `autoscale:start:${f.launch_action_id}`),
    );
    await setFleetState(this.o.sql, f.launch_action_id, 'starting', { serverId: server, stepActionId: start });
    this.o.logger.info({ policy: p.name, server, node_start: start }, 'fleet server running: starting its subscriber');
  }

  private async starting(f: FleetServer, p: PolicyRow, hb: Heartbeats): Promise<void> {
    const server = f.server_id as string;
    if (hb.has(server)) {
      await setFleetState(this.o.sql, f.launch_action_id, 'ready');
      this.o.logger.info({ policy: p.name, server }, 'fleet server ready: its subscriber beats');
    } else if (f.step_state !== null && ENDED.has(f.step_state)) {
      await this.launchFailed(f, p, `node.start on ${server} ended ${f.step_state}: ${f.step_error ?? ''}`);
      await this.terminate(f, server);
    }
  }

  /**
   * Drains a server's subscriber: `drain` over the broker (worker control, the path of SIGTERM);
   * when no subscriber answers, the node's stop command over SSH (node.stop).
   */
  async drain(f: FleetServer): Promise<void> {
    const server = f.server_id as string;
    try {
      const res = await sendControl(
        this.o.amqp,
        { service: 'subscriber', name: server },
        { command: 'drain' },
        { actor: this.o.actor, timeoutMs: DRAIN_REPLY_MS, expected: 1 },
      );
      const reply = res.replies.find((r) => r.outcome === 'done' || r.outcome === 'unchanged');
      if (reply !== undefined) {
        this.o.logger.info(
          { policy: f.policy, server, outcome: reply.outcome },
          'fleet server draining (worker control)',
        );
        return;
      }
    } catch (err) {
      this.o.logger.warn({ policy: f.policy, server, err: errorText(err) }, 'drain over the broker failed');
    }
    await this.stopCommand(f, server);
  }

  private async stopCommand(f: FleetServer, server: string): Promise<void> {
    const stop = await this.emit(
      fleetRequest('node.stop', 'provision', { node: server }, `autoscale:stop:${f.launch_action_id}`),
    );
    await setFleetState(this.o.sql, f.launch_action_id, 'draining', { stepActionId: stop });
    this.o.logger.info(
      { policy: f.policy, server, node_stop: stop },
      'fleet server draining (its stop command over SSH)',
    );
  }

  /**
   * A ready server whose subscriber stopped beating without a drain (it crashed, its server
   * hangs) for longer than stale_after_s is reported and terminated; the next evaluation replaces it.
   */
  private async ready(f: FleetServer, p: PolicyRow, hb: Heartbeats): Promise<void> {
    const server = f.server_id as string;
    const now = Date.now();
    if (hb.has(server) || !this.lastBeat.has(server)) {
      this.lastBeat.set(server, now);
      return;
    }
    const goneS = (now - (this.lastBeat.get(server) ?? now)) / 1000;
    if (goneS <= p.spec.stale_after_s) return;
    this.lastBeat.delete(server);
    await this.report(
      p,
      'drain',
      `subscriber of ${server} stopped beating without a drain ${Math.round(goneS)}s ago (stale_after_s ${p.spec.stale_after_s}): terminating the server`,
      { server },
    );
    await this.terminate(f, server);
  }

  private async draining(f: FleetServer, p: PolicyRow, hb: Heartbeats): Promise<void> {
    const server = f.server_id as string;
    const beat = hb.get(server);
    const since = Date.now() - (f.drain_started_at?.getTime() ?? Date.now());
    // No answer to the drain yet and no stop command run (the reply was lost, or the publisher
    // died between the decision and the drain): the stop command.
    if (beat !== undefined && f.step_action_id === null && since >= DRAIN_FALLBACK_MS)
      return this.stopCommand(f, server);
    if (beat !== undefined && since < p.spec.drain_timeout_s * 1000) return;
    if (beat !== undefined)
      await this.report(
        p,
        'drain',
        `drain of ${server} passed drain_timeout_s ${p.spec.drain_timeout_s} with its subscriber still beating (${beat.inFlight} in flight): terminating it`,
        { server, in_flight: beat.inFlight },
      );
    await this.terminate(f, server);
  }

  private async terminate(f: FleetServer, server: string): Promise<void> {
    const id = await this.emit(
      fleetRequest(
        'server.terminate',
        'provision',
        { account: f.account_id, server },
        `autoscale:terminate:${f.launch_action_id}`,
      ),
    );
    await setFleetState(this.o.sql, f.launch_action_id, 'terminating', { stepActionId: id, serverId: server });
  }

  private async terminating(f: FleetServer): Promise<void> {
    if (f.step_state !== 'succeeded') return;
    await setFleetState(this.o.sql, f.launch_action_id, 'terminated');
    if (f.server_id !== null) await removeNode(this.o.sql, f.server_id);
    this.o.logger.info({ policy: f.policy, server: f.server_id }, 'fleet server terminated');
  }

  /** Finds servers of the policy's account the fleet does not know; terminates them after orphan_grace_s. */
  async orphans(p: PolicyRow, reported: Set<string>): Promise<void> {
    const grace = p.spec.orphan_grace_s;
    for (const server of await unknownServers(this.o.sql, p.account_id, Math.min(grace, 10) / 2))
      await this.reportOrphan(
        p,
        server,
        'found',
        reported,
        `unknown server ${server} in account ${p.account_id}: terminated after orphan_grace_s ${grace}`,
      );
    for (const server of await unknownServers(this.o.sql, p.account_id, grace)) {
      const key = `autoscale:orphan:${p.account_id}:${server}`;
      const id = await this.emit(fleetRequest('server.terminate', 'provision', { account: p.account_id, server }, key));
      await this.reportOrphan(
        p,
        server,
        'terminating',
        reported,
        `unknown server ${server} past orphan_grace_s: terminating (server.terminate ${id})`,
        [id],
      );
    }
  }

  /** Reports an unknown server once per phase, across restarts and failovers (the rows say what was reported). */
  private async reportOrphan(
    p: PolicyRow,
    server: string,
    phase: 'found' | 'terminating',
    reported: Set<string>,
    reason: string,
    actions: string[] = [],
  ): Promise<void> {
    const key = `${phase}:${server}`;
    if (reported.has(key)) return;
    reported.add(key);
    if (await hasOrphanReport(this.o.sql, p.name, server, phase)) return;
    await this.report(p, 'orphan', reason, { server, phase }, actions);
  }
}
