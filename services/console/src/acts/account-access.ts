import { type AccountInfo, getAccountSecret } from '@cmq/actions';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tenantScope } from '../auth';
import type { ConsoleContext } from '../context';
import { mayActOn, refuse } from './act-common';

/**
 * The account of `:id` if the user may act on it, else the refusal to answer with: a user bound
 * to a tenant gets the same 403 for another tenant's account as for none (ids of other tenants'
 * accounts are not told apart); a user of all tenants gets 404 for none.
 */
export async function accountParam(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
): Promise<{ account: AccountInfo } | { refusal: unknown }> {
  const { id } = req.params as { id: string };
  const secret = await getAccountSecret(ctx.database.sql, id);
  if (secret !== undefined && mayActOn(req, secret.tenant_id)) {
    // The ciphertext stays here: nothing after this point can show it.
    const { credentials: sealed, ...account } = secret;
    void sealed;
    return { account };
  }
  const scope = tenantScope(req);
  if (scope !== null)
    return { refusal: refuse(req, reply, '/cloud', 403, `no account ${id} of tenant ${scope} (yours)`) };
  return { refusal: refuse(req, reply, '/cloud', 404, `no account ${id} (cmq accounts list)`) };
}
