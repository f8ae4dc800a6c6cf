import { type CloudProvider, upsertServer } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { LaunchRequest } from '@cmq/drivers';
import type { ArgsOf } from '@cmq/actions';
import type { Handler, HandlerContext } from './handler';
import { AWAIT_DEADLINE_MS, AWAIT_POLL_MS, enqueueAwait, serverFacts, withAccount } from './server-support';
import { testPause } from './test-pause';

/** Image and size when the request names none; an EC2 image must be named (there is no sensible default AMI). */
const DEFAULTS: Record<CloudProvider, { image?: string; size: string }> = {
  local: { image: 'local', size: 'small' },
  ec2: { size: 't3.micro' },
};

function launchRequest(
  ctx: HandlerContext,
  provider: CloudProvider,
  args: ArgsOf<'server.launch'>,
  credentials: Record<string, unknown>,
): LaunchRequest {
  const image = args.image ?? DEFAULTS[provider].image;
  if (image === undefined)
    throw new CmqError(
      'CMQ_ERR_SERVER_ARGS',
      `args.image: required for ${provider} accounts (an image id such as ami-0123456789abcdef0)`,
    );
  const req: LaunchRequest = {
    clientToken: ctx.id,
    image,
    size: args.size ?? DEFAULTS[provider].size,
    name: args.name ?? `cmq-${ctx.tenant}-${ctx.id}`,
  };
  // An EC2 account may name the key pair its instances admit (credentials key_name).
  if (typeof credentials.key_name === 'string') req.keyName = credentials.key_name;
  return req;
}

/** TEST HOOK (see testPause): pauses server.launch once the driver's launch returned, before anything is recorded. */
export const TEST_PAUSE_AFTER_LAUNCH_ENV = 'CMQ_TEST_PAUSE_AFTER_LAUNCH_FILE';

/**
 * `server.launch {account, image?, size?, name?}`: launches through the account's driver with
 * the action id as idempotency token (a rerun after a crash gets the same server back), records
 * the server, and enqueues the first `server.await` (keyed on this action: a rerun enqueues none).
 * Result: `{server, state, await_action}`.
 */
export const serverLaunch: Handler<'server.launch'> = async (ctx) => {
  const { args } = ctx;
  return withAccount(ctx, args.account, async ({ account, driver, credentials }, cloud) => {
    const req = launchRequest(ctx, account.provider, args, credentials);
    const server = await driver.launchServer(req, { signal: ctx.signal });
    await testPause(
      ctx,
      TEST_PAUSE_AFTER_LAUNCH_ENV,
      'TEST HOOK: pausing after the launch, before it is recorded (never set this variable in production)',
    );
    const row = await upsertServer(
      cloud.sql,
      serverFacts(ctx, account.id, { ...server, image: server.image || req.image, size: server.size || req.size }),
      ctx.id,
    );
    const deadline = new Date(row.launched_at.getTime() + AWAIT_DEADLINE_MS);
    const next = await enqueueAwait(
      ctx,
      cloud,
      { account: account.id, server: server.id, deadline },
      server.state === 'running' ? 0 : AWAIT_POLL_MS,
    );
    ctx.logger.info(
      { account: account.id, server: server.id, state: server.state, await_action: next },
      'server launched',
    );
    return { status: 'succeeded', result: { server: server.id, state: server.state, await_action: next } };
  });
};
