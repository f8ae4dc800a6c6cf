import { type NodeCommand, type NodeSecret, PLATFORM_TENANT, getNodeSecret, recordNodeStatus } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Handler } from './handler';
import { runOnNode, sshServices } from './ssh-run';

const OUTPUT_KEPT = 4096;

function commandOf(node: NodeSecret, which: NodeCommand): string {
  return which === 'start' ? node.start_cmd : which === 'stop' ? node.stop_cmd : node.status_cmd;
}

/**
 * `node.start|stop|status`: runs the node's command over SSH and keeps the last status (exit
 * code, output, time) on the node. Only the platform tenant may act on nodes. An inactive node is
 * not started (the action fails, naming the flag); its stop and status still run, so that a node
 * taken out of service can have its worker stopped and checked. Mode refusal (passive) happens before any handler runs.
 */
function nodeHandler(which: NodeCommand): Handler<`node.${NodeCommand}`> {
  return async (ctx) => {
    if (ctx.tenant !== PLATFORM_TENANT)
      throw new CmqError(
        'CMQ_ERR_NODE_TENANT',
        `node actions belong to tenant ${PLATFORM_TENANT}, not "${ctx.tenant}"`,
      );
    const ssh = sshServices(ctx);
    const name = ctx.args.node;
    const node = await getNodeSecret(ssh.sql, name);
    if (node === undefined) throw new CmqError('CMQ_ERR_NODE_UNKNOWN', `no node "${name}" (cmq nodes list)`);
    if (which === 'start' && !node.active)
      return {
        status: 'failed',
        error: `node ${name} is inactive: node.start was not run (cmq nodes activate ${name})`,
      };
    const res = await runOnNode(ctx, node, commandOf(node, which), { logOutput: true });
    const output = `${res.stdout}${res.stderr}`.slice(-OUTPUT_KEPT);
    await recordNodeStatus(ssh.sql, name, which, res.code, output);
    ctx.logger.info({ node: name, command: which, code: res.code }, `node ${which} command ran`);
    const result = { node: name, code: res.code, output, truncated: res.truncated };
    if (res.timedOut) return { status: 'failed', result, error: `node ${which} command timed out and was killed` };
    if (res.code !== 0)
      return {
        status: 'failed',
        result,
        error: `node ${which} command exited ${res.code ?? `on signal ${res.signal ?? '?'}`}`,
      };
    return { status: 'succeeded', result };
  };
}

export const nodeStart = nodeHandler('start');
export const nodeStop = nodeHandler('stop');
export const nodeStatus = nodeHandler('status');
