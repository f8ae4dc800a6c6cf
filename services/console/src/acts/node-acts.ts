import {
  NODE_NAME_RE,
  type NodeChanges,
  type NodeInfo,
  PLATFORM_TENANT,
  addNode,
  getNode,
  nodeProblems,
  setNodeActive,
  updateNode,
} from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context';
import { auditAct, consoleKeyring, formOf, refuse, wantsJson } from './act-common';
import { type HostForm, KEY_FIELD, fieldOf, portOf, refuseForm, renderHostForm, sealFormKey } from './host-form';

const VIEW = { template: 'host-node-form.eta', title: 'Node' };
/** The node fields of the form, by nodeProblems' names (the key is apart: write-only). */
const FIELDS = ['name', 'address', 'port', 'user', 'hostKey', 'startCmd', 'stopCmd', 'statusCmd'] as const;

/** preHandler: a :name that is not a node name answers 404 (it never reaches a form's action). */
export function nodeParam(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
  const { name } = req.params as { name?: string };
  if (name === undefined || !NODE_NAME_RE.test(name)) {
    void reply.code(404).send({ error: 'no such node: a node name is [a-z0-9][a-z0-9_.-]{0,62}' });
    return;
  }
  done();
}

function emptyForm(ctx: ConsoleContext, mode: 'add' | 'edit', action: string): HostForm {
  const ring = consoleKeyring(ctx);
  return { action, mode, values: {}, errors: {}, keyProblem: 'problem' in ring ? ring.problem : null };
}

/** The node fields of a form body: every one ('' when absent), or with `only`, those given. */
function valuesOf(body: Record<string, string>, only = false): Record<string, string> {
  return Object.fromEntries(FIELDS.filter((f) => !only || f in body).map((f) => [f, fieldOf(body, f)]));
}

function valuesOfNode(n: NodeInfo): Record<string, string> {
  return {
    name: n.name,
    address: n.address,
    port: String(n.port),
    user: n.user,
    hostKey: n.host_key_fingerprint ?? '',
    startCmd: n.start_cmd,
    stopCmd: n.stop_cmd,
    statusCmd: n.status_cmd,
  };
}

/** GET /nodes/new: the empty add form. */
export function newNodeForm(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  return renderHostForm(req, reply, VIEW.template, 'Add a node', emptyForm(ctx, 'add', '/nodes'));
}

/** POST /nodes: `cmq nodes add`'s checks and store (addNode), the key encrypted with the console's keyring. */
export async function addNodeAct(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = formOf(req);
  const form = { ...emptyForm(ctx, 'add', '/nodes'), values: valuesOf(body) };
  const v = form.values as Record<(typeof FIELDS)[number], string>;
  const node = {
    name: v.name,
    address: v.address,
    port: portOf(v.port, 22) ?? 22,
    user: v.user,
    hostKey: v.hostKey === '' ? undefined : v.hostKey,
    startCmd: v.startCmd,
    stopCmd: v.stopCmd,
    statusCmd: v.statusCmd,
    active: true,
  };
  // A malformed name is not written into the audit row (it could be anything pasted).
  const audit = { action: 'node.add', target: NODE_NAME_RE.test(v.name) ? v.name : null, tenant: PLATFORM_TENANT };
  form.errors = nodeProblems(node);
  const sealed = sealFormKey(ctx, body[KEY_FIELD] ?? '');
  if ('error' in sealed) form.errors[KEY_FIELD] = sealed.error;
  if (Object.keys(form.errors).length > 0 || !('encrypted' in sealed))
    return refuseForm(ctx, req, reply, VIEW, audit, form);
  try {
    await addNode(ctx.database.sql, { ...node, encryptedKey: sealed.encrypted });
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_NODE') throw err;
    form.errors = { name: err.message };
    return refuseForm(ctx, req, reply, VIEW, audit, form);
  }
  await auditAct(ctx, req, { ...audit, outcome: 'ok', detail: { active: true } });
  return wantsJson(req) ? reply.code(201).send({ name: v.name }) : reply.code(303).redirect('/cloud#nodes');
}

/** GET /nodes/:name/edit: the node's commands and connection, prefilled (never its key). */
export async function editNodeForm(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { name } = req.params as { name: string };
  const node = await getNode(ctx.database.sql, name);
  if (node === undefined) return refuse(req, reply, '/cloud', 404, `no node "${name}"`);
  const form = { ...emptyForm(ctx, 'edit', `/nodes/${name}`), values: valuesOfNode(node) };
  return renderHostForm(req, reply, VIEW.template, `Edit node ${name}`, form);
}

/** The fields whose value differs from the node's; an empty host key or key keeps the stored one. */
function changesOf(node: NodeInfo, v: Record<string, string>): NodeChanges {
  const now = valuesOfNode(node);
  const changed = (f: (typeof FIELDS)[number]): string | undefined =>
    v[f] !== now[f] && !(f === 'hostKey' && v[f] === '') ? v[f] : undefined;
  const port = changed('port');
  return {
    address: changed('address'),
    port: port === undefined ? undefined : portOf(port, undefined),
    user: changed('user'),
    hostKey: changed('hostKey'),
    startCmd: changed('startCmd'),
    stopCmd: changed('stopCmd'),
    statusCmd: changed('statusCmd'),
  };
}

/** POST /nodes/:name: `cmq nodes set` (updateNode) with the fields that changed. */
export async function updateNodeAct(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { name } = req.params as { name: string };
  const node = await getNode(ctx.database.sql, name);
  if (node === undefined) return refuse(req, reply, '/cloud', 404, `no node "${name}"`);
  const body = formOf(req);
  // A field left out of the body is unchanged (an API client may send only what changes).
  const form = {
    ...emptyForm(ctx, 'edit', `/nodes/${name}`),
    values: { ...valuesOfNode(node), ...valuesOf(body, true), name },
  };
  const audit = { action: 'node.set', target: name, tenant: PLATFORM_TENANT };
  const changes = changesOf(node, form.values);
  form.errors = nodeProblems(changes);
  if ((body[KEY_FIELD] ?? '').trim() !== '') {
    const sealed = sealFormKey(ctx, body[KEY_FIELD] ?? '');
    if ('error' in sealed) form.errors[KEY_FIELD] = sealed.error;
    else changes.encryptedKey = sealed.encrypted;
  }
  if (Object.keys(form.errors).length === 0 && Object.values(changes).every((c) => c === undefined))
    form.errors[''] = 'nothing changed: edit a field (an empty key keeps the stored one)';
  if (Object.keys(form.errors).length > 0) return refuseForm(ctx, req, reply, VIEW, audit, form);
  const changed = await updateNode(ctx.database.sql, name, changes);
  if (changed === undefined) return refuse(req, reply, '/cloud', 404, `no node "${name}"`);
  await auditAct(ctx, req, { ...audit, outcome: 'ok', detail: { changed } });
  return wantsJson(req) ? reply.send({ name, changed }) : reply.code(303).redirect('/cloud#nodes');
}

/** POST /nodes/:name/active (active=true|false): `cmq nodes activate|deactivate` (setNodeActive). */
export async function toggleNodeAct(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { name } = req.params as { name: string };
  const asked = formOf(req).active;
  if (asked !== 'true' && asked !== 'false') return refuse(req, reply, '/cloud', 400, 'active: true or false');
  const active = asked === 'true';
  const changed = await setNodeActive(ctx.database.sql, name, active);
  if (changed === undefined) return refuse(req, reply, '/cloud', 404, `no node "${name}"`);
  const action = active ? 'node.activate' : 'node.deactivate';
  await auditAct(ctx, req, { action, target: name, outcome: 'ok', tenant: PLATFORM_TENANT, detail: { changed } });
  return wantsJson(req) ? reply.send({ name, active, changed }) : reply.code(303).redirect('/cloud#nodes');
}
