import {
  GUEST_ID_RE,
  HostFieldError,
  TENANT_ID_RE,
  addGuest,
  defaultGuestId,
  guestProblems,
  setGuestActive,
} from '@cmq/actions';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tenantScope } from '../auth';
import type { ConsoleContext } from '../context';
import { auditAct, consoleKeyring, formOf, mayActOn, outsideTenant, refuse, tenantsOf, wantsJson } from './act-common';
import { type HostForm, KEY_FIELD, fieldOf, portOf, refuseForm, renderHostForm, sealFormKey } from './host-form';

const VIEW = { template: 'host-guest-form.eta', title: 'Add a guest' };
const FIELDS = ['tenant', 'id', 'address', 'port', 'user', 'hostKey', 'logPaths'] as const;

/** preHandler: a :tenant or :id that is not one answers 404 (never written into a page). */
export function guestParams(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
  const { tenant, id } = req.params as { tenant?: string; id?: string };
  if (tenant === undefined || !TENANT_ID_RE.test(tenant) || id === undefined || !GUEST_ID_RE.test(id)) {
    void reply.code(404).send({ error: 'no such guest: a tenant id, then a guest id [a-z0-9][a-z0-9_.-]{0,62}' });
    return;
  }
  done();
}

async function emptyForm(ctx: ConsoleContext, req: FastifyRequest): Promise<HostForm> {
  const ring = consoleKeyring(ctx);
  const tenants = await tenantsOf(ctx, req);
  const values: Record<string, string> = tenants.length === 1 ? { tenant: tenants[0] ?? '' } : {};
  return {
    action: '/guests',
    mode: 'add',
    values,
    errors: {},
    keyProblem: 'problem' in ring ? ring.problem : null,
    tenants,
  };
}

/** `--log-paths` of `cmq guests add`: comma-separated; '' leaves publisher.properties logs.paths in force. */
function logPathsOf(text: string): string[] | undefined {
  if (text === '') return undefined;
  return text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/** GET /guests/new: the empty add form (the tenant fixed for a tenant-bound user). */
export async function newGuestForm(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  return renderHostForm(req, reply, VIEW.template, VIEW.title, await emptyForm(ctx, req));
}

/** POST /guests: `cmq guests add`'s checks and store (addGuest), within the user's tenant. */
export async function addGuestAct(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = formOf(req);
  const v = Object.fromEntries(FIELDS.map((f) => [f, fieldOf(body, f)])) as Record<(typeof FIELDS)[number], string>;
  const tenant = v.tenant || (tenantScope(req) ?? '');
  if (!mayActOn(req, tenant)) return outsideTenant(reply, tenant);
  const form = { ...(await emptyForm(ctx, req)), values: { ...v, tenant } };
  const guest = {
    id: v.id === '' ? defaultGuestId(v.address) : v.id,
    address: v.address,
    port: portOf(v.port, 22) ?? 22,
    user: v.user,
    hostKey: v.hostKey === '' ? undefined : v.hostKey,
    logPaths: logPathsOf(v.logPaths),
  };
  const audit = {
    action: 'guest.add',
    target: GUEST_ID_RE.test(guest.id) ? guest.id : null,
    tenant: TENANT_ID_RE.test(tenant) ? tenant : null,
  };
  form.errors = guestProblems(guest);
  if (!TENANT_ID_RE.test(tenant)) form.errors.tenant = 'tenant: pick one';
  const sealed = sealFormKey(ctx, body[KEY_FIELD] ?? '');
  if ('error' in sealed) form.errors[KEY_FIELD] = sealed.error;
  if (Object.keys(form.errors).length > 0 || !('encrypted' in sealed))
    return refuseForm(ctx, req, reply, VIEW, audit, form);
  try {
    await addGuest(ctx.database.sql, { ...guest, tenant, encryptedKey: sealed.encrypted, trustOnFirstUse: false });
  } catch (err) {
    if (!(err instanceof HostFieldError) || err.code !== 'CMQ_ERR_GUEST') throw err;
    form.errors = { [err.field]: err.message };
    return refuseForm(ctx, req, reply, VIEW, audit, form);
  }
  await auditAct(ctx, req, { ...audit, outcome: 'ok' });
  if (wantsJson(req)) return reply.code(201).send({ tenant, id: guest.id });
  return reply.code(303).redirect(`/cloud?tenant=${encodeURIComponent(tenant)}#guests`);
}

/** POST /guests/:tenant/:id/active (active=true|false): `cmq guests activate|deactivate` (setGuestActive). */
export async function toggleGuestAct(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const { tenant, id } = req.params as { tenant: string; id: string };
  if (!mayActOn(req, tenant)) return outsideTenant(reply, tenant);
  const asked = formOf(req).active;
  if (asked !== 'true' && asked !== 'false') return refuse(req, reply, '/cloud', 400, 'active: true or false');
  const active = asked === 'true';
  const changed = await setGuestActive(ctx.database.sql, tenant, id, active);
  if (changed === undefined) return refuse(req, reply, '/cloud', 404, `tenant "${tenant}" has no guest "${id}"`);
  const action = active ? 'guest.activate' : 'guest.deactivate';
  await auditAct(ctx, req, { action, target: id, outcome: 'ok', tenant, detail: { changed } });
  if (wantsJson(req)) return reply.send({ tenant, id, active, changed });
  return reply.code(303).redirect(`/cloud?tenant=${encodeURIComponent(tenant)}#guests`);
}
