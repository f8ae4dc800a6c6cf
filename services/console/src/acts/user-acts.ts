import { type ConsoleUser, addUser, disableUser, isRole, listUsers } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { auditAct, refuse, formOf, unbound, wantsJson } from './act-common';

async function list(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const users: ConsoleUser[] = await listUsers(ctx.database.sql);
  if (wantsJson(req)) return reply.send({ users });
  return reply.viewAsync('users.eta', { ...chrome(req, '/users', 'Users'), data: { users } });
}

async function add(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = formOf(req);
  const name = (body.name ?? '').trim();
  const role = body.role ?? '';
  const tenant = (body.tenant ?? '').trim() || null;
  if (!isRole(role)) return refuse(req, reply, '/users', 400, 'role: viewer, operator or admin');
  try {
    await addUser(ctx.database.sql, { name, role, tenant, password: body.password ?? '' });
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_USER') throw err;
    await auditAct(ctx, req, { action: 'user.add', target: name, outcome: 'refused', detail: { error: err.message } });
    return refuse(req, reply, '/users', 400, err.message);
  }
  await auditAct(ctx, req, { action: 'user.add', target: name, outcome: 'ok', tenant, detail: { role, tenant } });
  return wantsJson(req) ? reply.code(201).send({ name }) : reply.code(303).redirect('/users');
}

async function disable(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { name } = req.params as { name: string };
  try {
    await disableUser(ctx.database.sql, name);
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_USER') throw err;
    return refuse(req, reply, '/users', 404, err.message);
  }
  await auditAct(ctx, req, { action: 'user.disable', target: name, outcome: 'ok' });
  return wantsJson(req) ? reply.send({ disabled: name }) : reply.code(303).redirect('/users');
}

/** GET /users, POST /users (add), POST /users/:name/disable: `cmq users`' code, admins of all tenants only, audited. */
export function registerUserActs(app: FastifyInstance, ctx: ConsoleContext): void {
  const admin = { preHandler: [requireRole('admin'), unbound] };
  app.get('/users', admin, (req, reply) => list(ctx, req, reply));
  app.post('/users', admin, (req, reply) => add(ctx, req, reply));
  app.post('/users/:name/disable', admin, (req, reply) => disable(ctx, req, reply));
}
