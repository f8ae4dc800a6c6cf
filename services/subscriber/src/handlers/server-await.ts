import {
  type CloudProvider,
  defaultGuestId,
  getServerRow,
  registerServerGuest,
  setServerState,
  upsertServer,
} from '@cmq/actions';
import type { Server } from '@cmq/drivers';
import type { AccountDriver, CloudServices } from './account-driver';
import type { Handler, HandlerContext, HandlerResult } from './handler';
import { AWAIT_DEADLINE_MS, AWAIT_POLL_MS, enqueueAwait, serverFacts, withAccount } from './server-support';

/** How long after a launch a provider may still not list the new server (EC2 is eventually consistent). */
const LISTING_GRACE_MS = 60_000;

/** Who to log in as when the provider does not say (EC2's Amazon Linux images: ec2-user). */
const DEFAULT_USER: Record<CloudProvider, string> = { local: 'root', ec2: 'ec2-user' };

function address(server: Server): string | undefined {
  return server.addresses.public?.[0] ?? server.addresses.private?.[0];
}

/**
 * Registers a running server as a guest of the tenant: trusted on first use (the platform
 * launched it), its host key pinned at once when the provider gave it, the account's SSH key
 * re-encrypted under the active key. Returns the guest id, or why none was registered.
 */
async function registerGuest(
  ctx: HandlerContext,
  cloud: CloudServices,
  a: AccountDriver,
  server: Server,
): Promise<{ guest: string | null; note?: string }> {
  const key = a.credentials.ssh_private_key;
  if (typeof key !== 'string' || key === '')
    return {
      guest: null,
      note: `account ${a.account.id} has no ssh_private_key in its credentials: server not registered as a guest`,
    };
  const addr = address(server);
  if (addr === undefined)
    return { guest: null, note: 'the provider reports no address: server not registered as a guest' };
  const id = defaultGuestId(server.id);
  await registerServerGuest(cloud.sql, ctx.tenant, a.account.id, server.id, {
    id,
    address: addr,
    port: server.sshPort ?? 22,
    user: server.sshUser ?? DEFAULT_USER[a.account.provider],
    encryptedKey: cloud.keyring().encrypt(key),
    ...(server.hostKeyFingerprint !== undefined ? { hostKeyFingerprint: server.hostKeyFingerprint } : {}),
    ...(server.logPaths !== undefined ? { logPaths: server.logPaths } : {}),
  });
  return { guest: id };
}

/**
 * `server.await {account, server, deadline?}`: one poll of a launched server. Running: records
 * its addresses, port and host key, registers it as a guest, succeeds. Still pending before the
 * deadline (default: launch + 10 min): enqueues the next poll (a few seconds on) and succeeds
 * with `{state: 'pending', next}`. Past the deadline, gone or terminated: failed, saying why.
 */
export const serverAwait: Handler<'server.await'> = async (ctx) => {
  const { args } = ctx;
  return withAccount(ctx, args.account, async (a, cloud): Promise<HandlerResult> => {
    const server = await a.driver.getServer(args.server, { signal: ctx.signal });
    const row = await getServerRow(cloud.sql, ctx.tenant, a.account.id, args.server);
    const deadline =
      args.deadline !== undefined
        ? new Date(args.deadline)
        : new Date((row?.launched_at.getTime() ?? Date.now()) + AWAIT_DEADLINE_MS);
    const base = { server: args.server, deadline: deadline.toISOString() };
    if (server !== undefined) await upsertServer(cloud.sql, serverFacts(ctx, a.account.id, server));
    if (server?.state === 'running') {
      const guest = await registerGuest(ctx, cloud, a, server);
      ctx.logger.info({ account: a.account.id, server: server.id, guest: guest.guest }, 'server running');
      const result = {
        ...base,
        state: 'running',
        addresses: server.addresses,
        ssh_port: server.sshPort ?? 22,
        host_key_fingerprint: server.hostKeyFingerprint ?? null,
        ...guest,
      };
      return { status: 'succeeded', result };
    }
    if (server === undefined && row === undefined) {
      return {
        status: 'failed',
        result: { ...base, state: 'unknown' },
        error: `account ${a.account.id} has no server ${args.server} (the provider does not know it, and no launch recorded it)`,
      };
    }
    if (
      server === undefined &&
      row !== undefined &&
      (row.state === 'terminated' || row.state === 'gone' || Date.now() - row.launched_at.getTime() > LISTING_GRACE_MS)
    ) {
      await setServerState(
        cloud.sql,
        ctx.tenant,
        a.account.id,
        args.server,
        row.state === 'terminated' ? 'terminated' : 'gone',
      );
      return {
        status: 'failed',
        result: { ...base, state: 'gone' },
        error: `server ${args.server} is gone: the provider no longer lists it`,
      };
    }
    const state = server?.state ?? 'unknown';
    if (state === 'terminated' || state === 'stopping' || state === 'stopped') {
      return {
        status: 'failed',
        result: { ...base, state },
        error: `server ${args.server} is ${state}: it will not run`,
      };
    }
    // pending, unknown, or not listed yet (EC2 is eventually consistent right after a launch).
    if (Date.now() >= deadline.getTime()) {
      return {
        status: 'failed',
        result: { ...base, state },
        error: `server ${args.server} still ${server === undefined ? 'unknown to the provider' : state} at the deadline ${deadline.toISOString()}`,
      };
    }
    const next = await enqueueAwait(
      ctx,
      cloud,
      { account: a.account.id, server: args.server, deadline },
      AWAIT_POLL_MS,
    );
    return {
      status: 'succeeded',
      result: { ...base, state: 'pending', provider_state: server === undefined ? 'not listed yet' : state, next },
    };
  });
};
