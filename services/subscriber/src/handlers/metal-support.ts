import type { AccountInfo } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import { type BmcTarget, CobblerClient, parseBmcEndpoint } from '@cmq/drivers';
import { type CloudServices, accountCredentials, credential } from './account-driver';
import type { HandlerContext } from './handler';
import { cloudOf } from './server-support';

/** Runs `fn` with a client of the tenant's cobbler account `accountId` (its credentials decrypted only now). */
export async function withCobbler<T>(
  ctx: HandlerContext,
  accountId: string,
  fn: (cobbler: CobblerClient, account: AccountInfo, cloud: CloudServices) => Promise<T>,
): Promise<T> {
  const cloud = cloudOf(ctx);
  const { account, credentials } = await accountCredentials(cloud, ctx.tenant, accountId, ['cobbler']);
  if (account.endpoint === null)
    throw new CmqError('CMQ_ERR_ACCOUNT', `cobbler account ${accountId} has no endpoint (http(s)://HOST/cobbler_api)`);
  const cobbler = new CobblerClient({
    endpoint: account.endpoint,
    user: credential(credentials, 'user'),
    password: credential(credentials, 'password'),
  });
  return fn(cobbler, account, cloud);
}

/** The BMC of the tenant's ipmi account `accountId`, with its credentials decrypted only now. */
export async function bmcOf(ctx: HandlerContext, accountId: string): Promise<{ account: AccountInfo; bmc: BmcTarget }> {
  const cloud = cloudOf(ctx);
  const { account, credentials } = await accountCredentials(cloud, ctx.tenant, accountId, ['ipmi']);
  if (account.endpoint === null)
    throw new CmqError('CMQ_ERR_ACCOUNT', `ipmi account ${accountId} has no endpoint (ipmi://host:port of its BMC)`);
  const cipher = credentials.cipher_suite;
  const bmc: BmcTarget = {
    ...parseBmcEndpoint(account.endpoint),
    user: credential(credentials, 'user'),
    password: credential(credentials, 'password'),
    ...(typeof cipher === 'number' ? { cipherSuite: cipher } : {}),
  };
  return { account, bmc };
}

/** Advisory lock class of Cobbler syncs (the second key is the server's hash). */
const COBBLER_SYNC_LOCK = 0x636f6273; // "cobs"

/**
 * Runs Cobbler's sync while holding a PostgreSQL advisory lock keyed by the server (host and
 * path of the endpoint: accounts of one server share it), so that one sync at a time runs per
 * server across every subscriber. A held lock is CMQ_ERR_COBBLER_BUSY, transient: the action is
 * retried with backoff instead of holding a database connection while it waits. The lock ends
 * with the transaction, and with the connection when the subscriber dies.
 */
export async function syncExclusively(
  cloud: CloudServices,
  endpoint: string,
  sync: () => Promise<void>,
): Promise<void> {
  const url = new URL(endpoint);
  const server = `${url.host}${url.pathname}`;
  await cloud.transaction(async (sql) => {
    const { rows } = await sql.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS locked',
      [COBBLER_SYNC_LOCK, server],
    );
    if (rows[0]?.locked !== true)
      throw new CmqError(
        'CMQ_ERR_COBBLER_BUSY',
        `cobbler ${server}: another sync of this server is running (retried later)`,
        {
          transient: true,
        },
      );
    await sync();
  });
}
