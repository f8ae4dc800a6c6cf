import { getServerRow, removeServerGuest, setServerState } from '@cmq/actions';
import type { Handler } from './handler';
import { withAccount } from './server-support';

/**
 * `server.terminate {account, server}`: asks the provider to terminate (terminating a terminated
 * server succeeds, so a rerun is harmless), records the server `terminated` and removes the guest
 * registered for it (nothing can reach it any more; its scheduled log collection stops with it).
 */
export const serverTerminate: Handler<'server.terminate'> = async (ctx) => {
  const { args } = ctx;
  return withAccount(ctx, args.account, async ({ account, driver }, cloud) => {
    await driver.terminateServer(args.server, { signal: ctx.signal });
    const recorded = await setServerState(cloud.sql, ctx.tenant, account.id, args.server, 'terminated');
    const guest = await removeServerGuest(cloud.sql, ctx.tenant, account.id, args.server);
    ctx.logger.info({ account: account.id, server: args.server, guest_removed: guest ?? null }, 'server terminated');
    return {
      status: 'succeeded',
      result: { server: args.server, state: 'terminated', recorded, guest_removed: guest ?? null },
    };
  });
};

/** `server.reboot {account, server}`: asks the provider to reboot; the record keeps its state. */
export const serverReboot: Handler<'server.reboot'> = async (ctx) => {
  const { args } = ctx;
  return withAccount(ctx, args.account, async ({ account, driver }, cloud) => {
    await driver.rebootServer(args.server, { signal: ctx.signal });
    const row = await getServerRow(cloud.sql, ctx.tenant, account.id, args.server);
    return { status: 'succeeded', result: { server: args.server, rebooted: true, recorded: row !== undefined } };
  });
};
