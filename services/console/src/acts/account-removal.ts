import { type AccountInfo, RESOURCE_KINDS, accountRemovalImpact, removeAccount } from '@cmq/actions';
import { CmqError, errorText } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest, preHandlerHookHandler } from 'fastify';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { accountParam } from './account-access';
import { auditAct, formOf, wantsJson } from './act-common';

async function confirmPage(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
  account: AccountInfo,
  error?: { message: string; code: number },
): Promise<unknown> {
  const impact = await accountRemovalImpact(ctx.database.sql, account.id);
  const data = { account, impact, errors: error === undefined ? {} : { confirm: error.message } };
  const code = error?.code ?? 200;
  if (wantsJson(req)) return reply.code(code).send(data);
  return reply
    .code(code)
    .viewAsync('account-remove.eta', { ...chrome(req, '/cloud', `Remove account ${account.id}`), data });
}

/**
 * Its cached resources go from Redis as `cmq accounts remove` removes them; PostgreSQL is the
 * record and the account is gone from it already, so a failure here is logged, not refused.
 */
async function forgetCache(ctx: ConsoleContext, account: AccountInfo): Promise<string | null> {
  try {
    await ctx.redis.resources.forget(account.tenant_id, account.id, RESOURCE_KINDS);
    return null;
  } catch (err) {
    ctx.logger.warn(
      { tenant: account.tenant_id, account: account.id, err },
      'account removed; its cached resources are still in Redis (cmq accounts remove explains the clean-up)',
    );
    return errorText(err);
  }
}

async function remove(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
  account: AccountInfo,
): Promise<unknown> {
  const target = `account ${account.id}`;
  const tenant = account.tenant_id;
  const refused = async (message: string, code: number): Promise<unknown> => {
    await auditAct(ctx, req, {
      action: 'account.remove',
      target,
      outcome: 'refused',
      tenant,
      detail: { error: message },
    });
    return confirmPage(ctx, req, reply, account, { message, code });
  };
  if ((formOf(req).confirm ?? '').trim() !== account.id)
    return refused(`type the account's id (${account.id}) to confirm; nothing was removed`, 400);
  const impact = await accountRemovalImpact(ctx.database.sql, account.id);
  try {
    if ((await removeAccount(ctx.database.sql, account.id)) === undefined)
      return refused(`account ${account.id} was removed meanwhile`, 409);
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_ACCOUNT') throw err;
    return refused(err.message, 409);
  }
  const cacheLeft = await forgetCache(ctx, account);
  const detail = {
    provider: account.provider,
    region: account.region,
    resources: impact.resources,
    servers: impact.servers,
    waiting: impact.waiting,
    ...(cacheLeft === null ? {} : { redis_cleanup_failed: cacheLeft }),
  };
  await auditAct(ctx, req, { action: 'account.remove', target, outcome: 'ok', tenant, detail });
  if (wantsJson(req)) return reply.send({ removed: account.id });
  return reply.code(303).redirect(`/cloud?tenant=${encodeURIComponent(tenant)}`);
}

/**
 * GET /cloud/accounts/:id/remove says what goes with the account and what is left (its servers
 * run on, its waiting actions fail); POST removes it once its id is typed again in `confirm`.
 * The code of `cmq accounts remove` (`removeAccount`, then the Redis cache).
 */
export function registerAccountRemoval(
  app: FastifyInstance,
  ctx: ConsoleContext,
  operator: { preHandler: preHandlerHookHandler },
): void {
  app.get('/cloud/accounts/:id/remove', operator, async (req, reply) => {
    const found = await accountParam(ctx, req, reply);
    return 'refusal' in found ? found.refusal : confirmPage(ctx, req, reply, found.account);
  });
  app.post('/cloud/accounts/:id/remove', operator, async (req, reply) => {
    const found = await accountParam(ctx, req, reply);
    return 'refusal' in found ? found.refusal : remove(ctx, req, reply, found.account);
  });
}
