import { type ActionRequest, type ServerFacts, insertActions } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Server } from '@cmq/drivers';
import { type AccountDriver, type CloudServices, accountDriver } from './account-driver';
import type { HandlerContext } from './handler';

/** How long server.await polls a launched server before giving up, when the request names no deadline. */
export const AWAIT_DEADLINE_MS = 10 * 60_000;
/** The countdown between two polls of server.await. */
export const AWAIT_POLL_MS = 3_000;

export function cloudOf(ctx: HandlerContext): CloudServices {
  if (ctx.cloud === undefined) throw new CmqError('CMQ_ERR_CLOUD_UNAVAILABLE', 'this subscriber has no cloud services');
  return ctx.cloud;
}

/** Runs `fn` with the account's driver, releasing the provider client afterwards. */
export async function withAccount<T>(
  ctx: HandlerContext,
  accountId: string,
  fn: (a: AccountDriver, cloud: CloudServices) => Promise<T>,
): Promise<T> {
  const cloud = cloudOf(ctx);
  const a = await accountDriver(cloud, ctx.redis, ctx.tenant, accountId);
  try {
    return await fn(a, cloud);
  } finally {
    a.close();
  }
}

/** What the servers table records of a provider's answer. */
export function serverFacts(ctx: HandlerContext, account: string, server: Server): ServerFacts {
  const facts: ServerFacts = {
    tenant: ctx.tenant,
    account,
    serverId: server.id,
    name: server.name,
    image: server.image,
    size: server.size,
    state: server.state,
    addresses: server.addresses,
  };
  if (server.sshPort !== undefined) facts.sshPort = server.sshPort;
  if (server.hostKeyFingerprint !== undefined) facts.hostKeyFingerprint = server.hostKeyFingerprint;
  return facts;
}

/**
 * Enqueues the next `server.await` of a server. Its idempotency key is derived from the action
 * that enqueues it (`server.await:after:<id>`), so each launch or poll has at most one successor:
 * a redelivery of the same action enqueues nothing new and gets the existing id back.
 */
export async function enqueueAwait(
  ctx: HandlerContext,
  cloud: CloudServices,
  args: { account: string; server: string; deadline: Date },
  countdownMs: number,
): Promise<string> {
  const request: ActionRequest = {
    type: 'server.await',
    family: 'provision',
    tenant: ctx.tenant,
    args: { account: args.account, server: args.server, deadline: args.deadline.toISOString() },
    idempotencyKey: `server.await:after:${ctx.id}`,
    notBefore: countdownMs > 0 ? new Date(Date.now() + countdownMs) : null,
    expiresAt: null,
    priority: 0,
    maxAttempts: 5,
  };
  const [id = ''] = await insertActions(cloud.transaction, [request], `${ctx.type} ${ctx.id}`);
  return id;
}
