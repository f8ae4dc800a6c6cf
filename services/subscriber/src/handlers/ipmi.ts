import {
  type IpmiSensor,
  type RawRecord,
  type ResourceState,
  databaseNow,
  normalizeState,
  parseIpmiSensor,
  recordProbeResult,
} from '@cmq/actions';
import { chassisPower, readSensors } from '@cmq/drivers';
import type { Handler } from './handler';
import { bmcOf } from './metal-support';
import { cloudOf } from './server-support';
import { recordListing } from './sync';

/** The probe target ipmi.sensors records under (`cmq probes --target bmc-<account>`). */
export function bmcProbeTarget(account: string): string {
  return `bmc-${account}`;
}

/** `ipmi.power {account, op}`: ipmitool power status|on|off|cycle against the account's BMC. */
export const ipmiPower: Handler<'ipmi.power'> = async (ctx) => {
  const { account: accountId, op } = ctx.args;
  const { bmc } = await bmcOf(ctx, accountId);
  const { power, output } = await chassisPower(bmc, op, { signal: ctx.signal });
  if (op !== 'status') ctx.logger.info({ account: accountId, op, output }, 'BMC power operation done');
  return { status: 'succeeded', result: power === undefined ? { op, output } : { op, power } };
};

function isSensor(r: IpmiSensor | RawRecord): r is IpmiSensor {
  return !('raw' in r);
}

/**
 * `ipmi.sensors {account}`: reads the BMC's sensors (`ipmitool -c sensor`), parses them with the
 * one sensor parser (host.probe's), stores the run as the `ipmi-sensor` probe of target
 * `bmc-<account>` (cmq probes), and records each sensor's status and thresholds (not its reading,
 * which moves all the time) as a resource of kind `sensor`: a status that changes (`ok` to `cr`)
 * is a `changed` event in cmq changes, and a warning in the log.
 */
export const ipmiSensors: Handler<'ipmi.sensors'> = async (ctx) => {
  const { account: accountId, timeout } = ctx.args;
  const cloud = cloudOf(ctx);
  const { bmc } = await bmcOf(ctx, accountId);
  const observedAt = await databaseNow(cloud.sql);
  const out = await readSensors(bmc, {
    signal: ctx.signal,
    ...(timeout !== undefined ? { timeoutMs: timeout * 1000 } : {}),
  });
  const parsed = parseIpmiSensor(out.stdout);
  const target = bmcProbeTarget(accountId);
  const stored = await recordProbeResult(cloud.sql, ctx.tenant, target, 'ipmi-sensor', 0, parsed);
  await ctx.redis.probes.writeLatest(ctx.tenant, target, 'ipmi-sensor', stored);
  const sensors = parsed.records.filter(isSensor);
  const listed = new Map<string, ResourceState>(
    sensors.map((s) => [
      s.name,
      normalizeState({ name: s.name, unit: s.unit, status: s.status, thresholds: s.thresholds }),
    ]),
  );
  const changes = await recordListing(ctx, cloud, {
    account: accountId,
    syncKind: 'sensors',
    kind: 'sensor',
    observedAt,
    listed,
  });
  const notOk = sensors
    .filter((s) => s.status !== 'ok')
    .map((s) => ({ name: s.name, status: s.status, value: s.value }));
  if (notOk.length > 0) ctx.logger.warn({ account: accountId, sensors: notOk }, 'BMC sensors not ok');
  return {
    status: 'succeeded',
    result: { sensors: sensors.length, not_ok: notOk, warnings: parsed.warnings.length, ...changes },
  };
};
