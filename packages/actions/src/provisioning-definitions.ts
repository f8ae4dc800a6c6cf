import { z } from 'zod';
import { defineAction } from './action-definition';
import { ACCOUNT_ID } from './ids';

const SERVER = z.string().min(1).max(200);
const NODE = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a node id of the tenant');
const ON_SERVER = { account: ACCOUNT_ID, server: SERVER };

/** Cloud server actions (provisioning.cfg mode=dynamic only). */
export const SERVER_DEFINITIONS = [
  defineAction({
    type: 'server.launch',
    family: 'provision',
    mode: 'dynamic',
    destructive: false,
    description: "launches a server through the account's driver (the action id is the idempotency token)",
    schema: z.strictObject({
      account: ACCOUNT_ID,
      image: z.string().min(1).max(200).optional(),
      size: z.string().min(1).max(100).optional(),
      name: z.string().min(1).max(100).optional(),
    }),
  }),
  defineAction({
    type: 'server.await',
    family: 'provision',
    mode: 'dynamic',
    destructive: false,
    description: 'polls a launched server until it runs or the deadline passes',
    schema: z.strictObject({ ...ON_SERVER, deadline: z.iso.datetime({ offset: true }).optional() }),
  }),
  defineAction({
    type: 'server.terminate',
    family: 'provision',
    mode: 'dynamic',
    destructive: true,
    description: 'terminates a server',
    schema: z.strictObject(ON_SERVER),
  }),
  defineAction({
    type: 'server.reboot',
    family: 'provision',
    mode: 'dynamic',
    destructive: true,
    description: 'reboots a server',
    schema: z.strictObject(ON_SERVER),
  }),
] as const;

function nodeAction<const T extends string>(type: T, destructive: boolean, description: string) {
  return defineAction({
    type,
    family: 'provision',
    mode: 'static',
    destructive,
    description,
    schema: z.strictObject({ node: NODE }),
  });
}

/** Worker process actions on registered nodes over SSH (mode=static or dynamic). */
export const NODE_DEFINITIONS = [
  nodeAction('node.start', false, 'starts the worker process of a registered node (its start command over SSH)'),
  nodeAction('node.stop', true, 'stops the worker process of a registered node (its stop command over SSH)'),
  nodeAction('node.status', false, 'runs the status command of a registered node over SSH'),
] as const;
