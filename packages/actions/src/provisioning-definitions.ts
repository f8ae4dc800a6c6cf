import { z } from 'zod';
import type { ActionDefinition } from './action-definition';
import { ACCOUNT_ID } from './ids';

const SERVER = z.string().min(1).max(200);
const NODE = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a node id of the tenant');

function provision(type: string, description: string, shape: z.ZodRawShape): ActionDefinition {
  return { type, description, schema: z.strictObject(shape), family: () => 'provision' };
}

/** Cloud server actions (provisioning.cfg mode=dynamic only). */
export const SERVER_DEFINITIONS: readonly ActionDefinition[] = [
  provision(
    'server.launch',
    "launches a server through the account's driver (the action id is the idempotency token)",
    {
      account: ACCOUNT_ID,
      image: z.string().min(1).max(200).optional(),
      size: z.string().min(1).max(100).optional(),
      name: z.string().min(1).max(100).optional(),
    },
  ),
  provision('server.await', 'polls a launched server until it runs or the deadline passes', {
    account: ACCOUNT_ID,
    server: SERVER,
    deadline: z.iso.datetime({ offset: true }).optional(),
  }),
  provision('server.terminate', 'terminates a server', { account: ACCOUNT_ID, server: SERVER }),
  provision('server.reboot', 'reboots a server', { account: ACCOUNT_ID, server: SERVER }),
];

/** Worker process actions on registered nodes over SSH (mode=static or dynamic). */
export const NODE_DEFINITIONS: readonly ActionDefinition[] = [
  provision('node.start', 'starts the worker process of a registered node (its start command over SSH)', {
    node: NODE,
  }),
  provision('node.stop', 'stops the worker process of a registered node (its stop command over SSH)', { node: NODE }),
  provision('node.status', 'runs the status command of a registered node over SSH', { node: NODE }),
];
