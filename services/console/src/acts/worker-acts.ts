import { hostname } from 'node:os';
import {
  type ControlCommand,
  type ControlTarget,
  controlAudit,
  readHeartbeats,
  sendControl,
  silentProcesses,
  targetMatches,
} from '@cmq/actions';
import {
  AmqpClient,
  FAMILIES,
  type Family,
  SERVICES,
  type ServiceName,
  StatusBoard,
  declareTopology,
  withDeadline,
} from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole, tenantScope } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { auditAct, consoleActor, formOf, wantsJson } from './act-common';

/** Sends `command` over a connection of its own (an operator's click: no connection kept open). */
export async function withBroker<T>(ctx: ConsoleContext, fn: (client: AmqpClient) => Promise<T>): Promise<T> {
  const client = new AmqpClient({
    config: ctx.config.amqp,
    connectionName: `cmq-console@${hostname()}:${process.pid}`,
    logger: ctx.logger.child({ component: 'worker-control' }),
    status: new StatusBoard(),
    setup: declareTopology,
  });
  try {
    await client.start(AbortSignal.timeout(ctx.config.amqp.connect_timeout));
    if (!client.connected) throw new Error('no broker answered (mq.cfg amqp.urls)');
    return await fn(client);
  } finally {
    await withDeadline(client.close(), 1_000, () => new Error('close not answered')).catch(() => undefined);
    client.destroy();
  }
}

/** The command and target a control form names; a string: what is wrong with it. */
function parseControl(body: Record<string, string>): { command: ControlCommand; target: ControlTarget } | string {
  const service = body.service ?? 'subscriber';
  if (!(SERVICES as readonly string[]).includes(service)) return `service: one of ${SERVICES.join(', ')}`;
  const target: ControlTarget = { service: service as ServiceName };
  if (body.name) target.name = body.name;
  if (body.host) target.host = body.host;
  if (body.pid) {
    const pid = Number(body.pid);
    if (!Number.isInteger(pid) || pid < 1) return 'pid: a process id';
    target.pid = pid;
  }
  if (body.all !== 'true' && target.name === undefined && target.host === undefined && target.pid === undefined)
    return 'say which processes: name, host, pid, or all';
  const c = body.command ?? '';
  if (c === 'drain' || c === 'ping') return { command: { command: c }, target };
  if (c !== 'pause' && c !== 'resume') return 'command: drain, pause, resume or ping';
  if (!(FAMILIES as readonly string[]).includes(body.family ?? '')) return `family: one of ${FAMILIES.join(', ')}`;
  return { command: { command: c, family: body.family as Family }, target };
}

async function control(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  // Processes serve every tenant: only a user bound to none may stop or pause them.
  if (tenantScope(req) !== null)
    return reply.code(403).send({ error: 'worker control is for users of all tenants, not one tenant' });
  const parsed = parseControl(formOf(req));
  if (typeof parsed === 'string') return reply.code(400).send({ error: parsed });
  const { command, target } = parsed;
  const live = (await readHeartbeats(ctx.redis)).filter((b) => targetMatches(target, b));
  const result = await withBroker(ctx, (client) =>
    sendControl(client, target, command, {
      actor: consoleActor(req),
      timeoutMs: 2_000,
      expected: live.length === 0 ? undefined : live.length,
    }),
  );
  const audit = controlAudit(result, silentProcesses(result, live));
  await auditAct(ctx, req, audit);
  const { command: what, replies, silent } = audit.detail;
  const data = { command: what, target: audit.target, outcome: audit.outcome, replies, silent };
  if (wantsJson(req)) return reply.send(data);
  return reply.viewAsync('worker-control.eta', { ...chrome(req, '/', 'Worker control'), data });
}

/** POST /workers/control: drain, pause FAMILY, resume FAMILY or ping, as `cmq workers` does; operators of all tenants; audited. */
export function registerWorkerActs(app: FastifyInstance, ctx: ConsoleContext): void {
  app.post('/workers/control', { preHandler: requireRole('operator') }, (req, reply) => control(ctx, req, reply));
}
