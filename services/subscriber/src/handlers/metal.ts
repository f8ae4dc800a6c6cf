import {
  type ResourceState,
  databaseNow,
  normalizeState,
  provisionProgress,
  recordProvisionStep,
  stepDone,
} from '@cmq/actions';
import type { Handler } from './handler';
import { syncExclusively, withCobbler } from './metal-support';
import { recordListing } from './sync';

/**
 * `metal.provision {account, system, profile}`: assigns the profile and sets netboot_enabled
 * (saved), syncs Cobbler (one sync per server at a time), then power-cycles the system. Each
 * step is recorded when done (metal_provisions, by action id), so a rerun after a crash goes on
 * from the next step; the power-cycle is recorded *before* it is asked for, so it happens at most
 * once per action: a rerun that finds it recorded only powers the system on if it is off.
 */
export const metalProvision: Handler<'metal.provision'> = async (ctx) => {
  const { account: accountId, system, profile } = ctx.args;
  return withCobbler(ctx, accountId, async (cobbler, account, cloud) => {
    const before = await provisionProgress(cloud.sql, ctx.id);
    const progress = { account: account.id, system, profile };
    if (!stepDone(before, 'assigned')) {
      await cobbler.assignProfile(system, profile, ctx.signal);
      await recordProvisionStep(cloud.sql, ctx.id, { ...progress, step: 'assigned' });
    }
    if (!stepDone(before, 'synced')) {
      await syncExclusively(cloud, cobbler.endpoint, () => cobbler.sync(ctx.signal));
      await recordProvisionStep(cloud.sql, ctx.id, { ...progress, step: 'synced' });
    }
    let powerCycled = false;
    if (!stepDone(before, 'cycling')) {
      await recordProvisionStep(cloud.sql, ctx.id, { ...progress, step: 'cycling' });
      await cobbler.power(system, 'reboot', ctx.signal);
      powerCycled = true;
    } else if ((await cobbler.power(system, 'status', ctx.signal)) === false) {
      await cobbler.power(system, 'on', ctx.signal);
    }
    ctx.logger.info(
      { account: account.id, system, profile, resumed_after: before ?? null },
      'bare-metal system provisioned',
    );
    return {
      status: 'succeeded',
      result: { system, profile, netboot_enabled: true, power_cycled: powerCycled, resumed_after: before ?? null },
    };
  });
};

/** `metal.power {account, system, op}`: Cobbler's power_system; `status` answers `{power: on|off}`. */
export const metalPower: Handler<'metal.power'> = async (ctx) => {
  const { account: accountId, system, op } = ctx.args;
  return withCobbler(ctx, accountId, async (cobbler) => {
    const on = await cobbler.power(system, op, ctx.signal);
    if (op === 'status') return { status: 'succeeded', result: { system, power: on === true ? 'on' : 'off' } };
    ctx.logger.info({ account: accountId, system, op }, 'bare-metal power operation asked for');
    return { status: 'succeeded', result: { system, op } };
  });
};

/**
 * `sync.metal {account}`: every system of the Cobbler server with its profile, netboot flag
 * and power state (`unknown` when Cobbler cannot tell) as resources of kind `system`, with
 * created / changed / gone events like the cloud syncs.
 */
export const syncMetal: Handler<'sync.metal'> = async (ctx) => {
  const accountId = ctx.args.account;
  return withCobbler(ctx, accountId, async (cobbler, _account, cloud) => {
    const observedAt = await databaseNow(cloud.sql);
    const listed = new Map<string, ResourceState>();
    for (const sys of await cobbler.listSystems(ctx.signal)) {
      let power: 'on' | 'off' | 'unknown';
      try {
        power = (await cobbler.power(sys.name, 'status', ctx.signal)) === true ? 'on' : 'off';
      } catch (err) {
        ctx.logger.debug({ err, system: sys.name }, 'power status unknown');
        power = 'unknown';
      }
      listed.set(sys.name, normalizeState({ ...sys, power }));
    }
    const result = await recordListing(ctx, cloud, {
      account: accountId,
      syncKind: 'metal',
      kind: 'system',
      observedAt,
      listed,
    });
    return { status: 'succeeded', result };
  });
};
