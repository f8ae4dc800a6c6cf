import { type AuditOutcome, TENANT_ID_RE, listTenants, recordAudit } from '@cmq/actions';
import { CmqError, Keyring } from '@cmq/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { tenantScope } from '../auth';
import { peerAddress } from '../auth/request-info';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';

/** `console:<user>`: who did it, in the events of the actions the console submits or changes. */
export function consoleActor(req: FastifyRequest): string {
  return `console:${req.principal?.name ?? '?'}`;
}

/** THE audit call site of the console's acts: who (the user), from where (the peer), what, the outcome. */
export async function auditAct(
  ctx: ConsoleContext,
  req: FastifyRequest,
  act: { action: string; target?: string | null; outcome: AuditOutcome; tenant?: string | null; detail?: object },
): Promise<void> {
  await recordAudit(ctx.database.sql, {
    actor: req.principal?.name ?? '?',
    actorAddress: peerAddress(req),
    action: act.action,
    target: act.target ?? null,
    outcome: act.outcome,
    tenant: act.tenant ?? null,
    detail: act.detail === undefined ? null : { ...act.detail, via: 'console' },
  });
}

/** The tenants a form offers the user: its own when bound to one, else every tenant. */
export async function tenantsOf(ctx: ConsoleContext, req: FastifyRequest): Promise<string[]> {
  const scope = tenantScope(req);
  return scope !== null ? [scope] : (await listTenants(ctx.database.sql)).map((t) => t.id);
}

/**
 * The keyring of km-client.cfg that encrypts what the forms store (a node's or guest's private
 * key, an account's credentials), as the CLI uses it; or, for the form to show, why the console
 * has none, naming the setting to fix (never a key).
 */
export function consoleKeyring(ctx: ConsoleContext): { keyring: Keyring } | { problem: string } {
  try {
    const keyring = Keyring.ifSet(ctx.config.km);
    if (keyring !== undefined) return { keyring };
    return {
      problem:
        'the console has no keyring (km.keys_file is unset in km-client.cfg): set it and km.active_key_id to store keys and credentials from here',
    };
  } catch (err) {
    if (err instanceof CmqError) return { problem: `the console's keyring is unusable: ${err.message}` };
    throw err;
  }
}

/** Whether this request may act on rows of `tenant` (a tenant-bound user: only its own). */
export function mayActOn(req: FastifyRequest, tenant: string | null): boolean {
  const scope = tenantScope(req);
  return scope === null || scope === tenant;
}

/** 403 for an act outside the user's tenant (acting routes answer 403, not 404, as the issue asks). */
export function outsideTenant(reply: FastifyReply, tenant: string | null): FastifyReply {
  return reply.code(403).send({ error: `this acts on tenant ${tenant ?? '(none)'}, outside your tenant` });
}

/** A form body's fields as strings (the first of repeated ones); {} for anything else. */
export function formOf(req: FastifyRequest): Record<string, string> {
  const body = req.body;
  if (typeof body !== 'object' || body === null) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    const s: unknown = Array.isArray(v) ? (v as unknown[])[0] : v;
    if (typeof s === 'string') out[k] = s;
    else if (typeof s === 'number' || typeof s === 'boolean') out[k] = String(s);
  }
  return out;
}

/** Whether the client asked for JSON (the API) rather than a page. */
export function wantsJson(req: FastifyRequest): boolean {
  return req.url.startsWith('/api/') || (req.headers.accept ?? '').startsWith('application/json');
}

/** Answers a refused act: `{ error }` to the API, the error page (under the `section` tab) to a browser. */
export function refuse(
  req: FastifyRequest,
  reply: FastifyReply,
  section: string,
  code: number,
  message: string,
): FastifyReply | Promise<unknown> {
  if (wantsJson(req)) return reply.code(code).send({ error: message });
  return reply.code(code).viewAsync('error.eta', { ...chrome(req, section, 'Refused'), data: { code, message } });
}

/**
 * preHandler: only users bound to no tenant pass (users, tenants and the audit are the whole
 * platform's; a tenant's admin could otherwise act on every tenant or read their audit).
 */
export function unbound(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
  if (tenantScope(req) !== null) {
    void reply.code(403).send({ error: 'this is for admins of all tenants; you are bound to one' });
    return;
  }
  done();
}

/**
 * preHandler: a :tenant path parameter that is not a tenant id (TENANT_ID_RE) answers 404, so a
 * crafted one (slashes, `?`) never reaches a page that writes it into a form's action.
 */
export function tenantParam(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
  const { tenant } = req.params as { tenant?: string };
  if (tenant === undefined || !TENANT_ID_RE.test(tenant)) {
    void reply.code(404).send({ error: 'no such tenant: a tenant id is [a-z0-9][a-z0-9_-]{0,62}' });
    return;
  }
  done();
}
