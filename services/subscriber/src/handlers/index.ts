import type { Handler } from './handler';
import { guestExec } from './guest-exec';
import { hostProbe } from './host-probe';
import { guestLogsCollect } from './logs-collect';
import { nodeStart, nodeStatus, nodeStop } from './node-command';
import { noop } from './noop';
import { ping } from './ping';
import { syncBudget, syncFirewalls, syncServers, syncVolumes } from './sync';
import { serverAwait } from './server-await';
import { serverLaunch } from './server-launch';
import { serverReboot, serverTerminate } from './server-power';

export type { Handler, HandlerContext, HandlerResult, SshServices } from './handler';
export type { CloudServices } from './account-driver';

/** Handlers by action type; a type without one ends `dead` ("no handler"). */
export const HANDLERS: ReadonlyMap<string, Handler> = new Map([
  ['noop', noop],
  ['ping', ping],
  ['guest.exec', guestExec],
  ['host.probe', hostProbe],
  ['guest.logs.collect', guestLogsCollect],
  ['node.start', nodeStart],
  ['node.stop', nodeStop],
  ['node.status', nodeStatus],
  ['sync.servers', syncServers],
  ['sync.firewalls', syncFirewalls],
  ['sync.volumes', syncVolumes],
  ['sync.budget', syncBudget],
  ['server.launch', serverLaunch],
  ['server.await', serverAwait],
  ['server.terminate', serverTerminate],
  ['server.reboot', serverReboot],
]);
