import {
  type AccountInfo,
  CREDENTIAL_FIELDS,
  PROVIDERS,
  type Provider,
  type RotatedAccount,
  TENANT_ID_RE,
  accountCredentialsAge,
  accountPlaceProblems,
  addAccount,
  checkCredentials,
  rotateAccount,
} from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole, tenantScope } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { type AccountForm, credentialsOfForm, isProvider, limitsOfForm, shownValues } from './account-form';
import { accountParam } from './account-access';
import { registerAccountRemoval } from './account-removal';
import { auditAct, consoleKeyring, formOf, mayActOn, outsideTenant, refuse, tenantsOf, wantsJson } from './act-common';

async function blankForm(ctx: ConsoleContext, req: FastifyRequest, provider: Provider): Promise<AccountForm> {
  const scope = tenantScope(req);
  return {
    provider,
    providers: PROVIDERS,
    tenants: await tenantsOf(ctx, req),
    tenantFixed: scope,
    account: null,
    fields: CREDENTIAL_FIELDS[provider],
    values: scope === null ? {} : { tenant: scope },
    errors: {},
  };
}

async function render(
  req: FastifyRequest,
  reply: FastifyReply,
  template: 'account-add' | 'account-rotate',
  data: AccountForm,
  code = 200,
): Promise<unknown> {
  // The JSON answer is the page's data: fields and errors, never a credential (none is kept).
  if (wantsJson(req)) return reply.code(code).send(data);
  const title = template === 'account-add' ? 'Add account' : `Rotate credentials of account ${data.account?.id ?? ''}`;
  return reply.code(code).viewAsync(`${template}.eta`, { ...chrome(req, '/cloud', title), data });
}

async function addPage(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const asked = (req.query as { provider?: string }).provider ?? '';
  const provider = isProvider(asked) ? asked : ctx.config.provisioning.cloud.default_provider;
  return render(req, reply, 'account-add', await blankForm(ctx, req, provider));
}

async function add(ctx: ConsoleContext, req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  const body = formOf(req);
  const scope = tenantScope(req);
  const tenant = (body.tenant ?? '').trim() || (scope ?? '');
  if (!mayActOn(req, tenant)) return outsideTenant(reply, tenant);
  const provider = body.provider ?? '';
  if (!isProvider(provider)) return refuse(req, reply, '/cloud', 400, `provider: one of ${PROVIDERS.join(', ')}`);
  const form = await blankForm(ctx, req, provider);
  form.values = shownValues({ ...body, tenant });
  const endpoint = (body.endpoint ?? '').trim() || undefined;
  const region = (body.region ?? '').trim();
  const limits = limitsOfForm(body);
  const errors: Record<string, string> = { ...limits.errors };
  if (!TENANT_ID_RE.test(tenant)) errors.tenant = tenant === '' ? 'required' : 'not a tenant id: pick one of the list';
  for (const p of accountPlaceProblems(provider, region, endpoint)) errors[p.field] = p.message;
  const creds = credentialsOfForm(provider, tenant, body);
  if ('errors' in creds) Object.assign(errors, creds.errors);
  // A malformed tenant is not written into the audit row (it could be anything pasted).
  const auditTenant = TENANT_ID_RE.test(tenant) ? tenant : null;
  const refused = async (why: Record<string, string>, code = 400): Promise<unknown> => {
    form.errors = why;
    await auditAct(ctx, req, {
      action: 'account.add',
      target: auditTenant === null ? null : `tenant:${auditTenant}`,
      outcome: 'refused',
      tenant: auditTenant,
      detail: { provider, errors: why },
    });
    return render(req, reply, 'account-add', form, code);
  };
  if (Object.keys(errors).length > 0 || 'errors' in creds) return refused(errors);
  const ring = consoleKeyring(ctx);
  if ('problem' in ring) return refused({ '': ring.problem }, 503);
  const { keyring } = ring;
  let id: string;
  const encryptedCredentials = keyring.encrypt(checkCredentials(provider, creds.text));
  try {
    id = await addAccount(ctx.database.sql, {
      tenant,
      provider,
      region,
      ...(endpoint === undefined ? {} : { endpoint }),
      encryptedCredentials,
      ...(limits.rate === undefined ? {} : { rate: limits.rate }),
      ...(limits.burst === undefined ? {} : { burst: limits.burst }),
    });
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_ACCOUNT') throw err;
    return refused({ tenant: err.message });
  }
  const detail = {
    provider,
    region,
    endpoint: endpoint ?? null,
    key_id: keyring.activeKeyId,
    generated: creds.generated,
  };
  await auditAct(ctx, req, { action: 'account.add', target: `account ${id}`, outcome: 'ok', tenant, detail });
  if (wantsJson(req)) return reply.code(201).send({ id });
  return reply.code(303).redirect(`/cloud?tenant=${encodeURIComponent(tenant)}`);
}

async function rotateForm(ctx: ConsoleContext, req: FastifyRequest, account: AccountInfo): Promise<AccountForm> {
  const form = await blankForm(ctx, req, account.provider);
  return { ...form, account, values: {}, age: (await accountCredentialsAge(ctx.database.sql, account.id)) ?? null };
}

async function rotate(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
  account: AccountInfo,
): Promise<unknown> {
  const body = formOf(req);
  const form = await rotateForm(ctx, req, account);
  const target = `account ${account.id}`;
  const refused = async (why: Record<string, string>, code = 400): Promise<unknown> => {
    form.errors = why;
    const detail = { provider: account.provider, errors: why };
    await auditAct(ctx, req, {
      action: 'account.rotate',
      target,
      outcome: 'refused',
      tenant: account.tenant_id,
      detail,
    });
    return render(req, reply, 'account-rotate', form, code);
  };
  const creds = credentialsOfForm(account.provider, account.tenant_id, body);
  if ('errors' in creds) return refused(creds.errors);
  const ring = consoleKeyring(ctx);
  if ('problem' in ring) return refused({ '': ring.problem }, 503);
  const { keyring } = ring;
  let rotated: RotatedAccount | undefined;
  try {
    rotated = await rotateAccount(ctx.database.sql, account.id, creds.text, (plain) => keyring.encrypt(plain));
  } catch (err) {
    if (!(err instanceof CmqError) || err.code !== 'CMQ_ERR_ACCOUNT') throw err;
    return refused({ '': err.message }, 409);
  }
  if (rotated === undefined) return refused({ '': `account ${account.id} was removed meanwhile` }, 409);
  const detail = { provider: account.provider, key_id: rotated.key_id, generated: creds.generated };
  await auditAct(ctx, req, { action: 'account.rotate', target, outcome: 'ok', tenant: account.tenant_id, detail });
  if (wantsJson(req)) return reply.send({ id: account.id, key_id: rotated.key_id, rotated_at: rotated.rotated_at });
  return reply.code(303).redirect(`/cloud?tenant=${encodeURIComponent(account.tenant_id)}`);
}

/**
 * Cloud accounts from the console, operators within their tenant (a user of all tenants chooses
 * it), each the code of the `cmq accounts` command that does it, audited without a credential:
 * GET /cloud/accounts/new?provider=P and POST /cloud/accounts add one (`addAccount`);
 * GET and POST /cloud/accounts/:id/rotate replace its credentials (`rotateAccount`); removal in
 * account-removal.ts. Credentials are write-only: no page or answer ever holds one.
 */
export function registerAccountActs(app: FastifyInstance, ctx: ConsoleContext): void {
  const operator = { preHandler: requireRole('operator') };
  app.get('/cloud/accounts/new', operator, (req, reply) => addPage(ctx, req, reply));
  app.post('/cloud/accounts', operator, (req, reply) => add(ctx, req, reply));
  app.get('/cloud/accounts/:id/rotate', operator, async (req, reply) => {
    const found = await accountParam(ctx, req, reply);
    if ('refusal' in found) return found.refusal;
    return render(req, reply, 'account-rotate', await rotateForm(ctx, req, found.account));
  });
  app.post('/cloud/accounts/:id/rotate', operator, async (req, reply) => {
    const found = await accountParam(ctx, req, reply);
    return 'refusal' in found ? found.refusal : rotate(ctx, req, reply, found.account);
  });
  registerAccountRemoval(app, ctx, operator);
}
