import type { ActionType } from '@cmq/actions';
import type { Handler } from './handler';
import { guestExec } from './guest-exec';
import { hostProbe } from './host-probe';
import { ipmiPower, ipmiSensors } from './ipmi';
import { guestLogsCollect } from './logs-collect';
import { metalPower, metalProvision, syncMetal } from './metal';
import { nodeStart, nodeStatus, nodeStop } from './node-command';
import { noop } from './noop';
import { ping } from './ping';
import { syncBudget, syncFirewalls, syncServers, syncVolumes } from './sync';
import { serverAwait } from './server-await';
import { serverLaunch } from './server-launch';
import { serverReboot, serverTerminate } from './server-power';

export type { Handler, HandlerContext, HandlerResult, SshServices } from './handler';
export type { CloudServices } from './account-driver';

/** Every action type's handler. */
export type HandlerTable = { readonly [T in ActionType]: Handler<T> };

/**
 * One handler per action type, keyed by the definitions' types: a type without a handler, a
 * handler for no type, or a handler of the wrong argument type does not compile.
 */
export const HANDLERS: HandlerTable = {
  noop,
  ping,
  'guest.exec': guestExec,
  'guest.logs.collect': guestLogsCollect,
  'host.probe': hostProbe,
  'sync.servers': syncServers,
  'sync.firewalls': syncFirewalls,
  'sync.volumes': syncVolumes,
  'sync.budget': syncBudget,
  'server.launch': serverLaunch,
  'server.await': serverAwait,
  'server.terminate': serverTerminate,
  'server.reboot': serverReboot,
  'node.start': nodeStart,
  'node.stop': nodeStop,
  'node.status': nodeStatus,
  'metal.provision': metalProvision,
  'metal.power': metalPower,
  'sync.metal': syncMetal,
  'ipmi.power': ipmiPower,
  'ipmi.sensors': ipmiSensors,
};

/**
 * The handler of `type`, to be called with arguments its schema parsed (checkArgs). The cast
 * is the one place where a run-time type meets the table: TypeScript cannot tie the union of
 * `type` to the union of argument types.
 */
export function handlerFor(type: ActionType): Handler {
  return HANDLERS[type] as Handler;
}
