import {
  ACTION_DEFINITIONS,
  type ActionDefinition,
  IntakeError,
  argsJsonSchema,
  insertActions,
  isActionType,
  PLATFORM_TENANT,
  modeAllows,
  parseRequest,
} from '@cmq/actions';
import { Keyring } from '@cmq/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRole, tenantScope } from '../auth';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { auditAct, consoleActor, formOf, mayActOn, outsideTenant, wantsJson } from './act-common';
import {
  type FormField,
  NAMING_FIELDS,
  type NamingField,
  OPTION_FIELDS,
  argFields,
  fieldErrors,
  requestOfForm,
} from './launch-fields';
import { namedValues } from './named-values';

/** The argument a destructive type's confirmation must repeat: the first of these it has. */
const TARGET_KEYS = ['server', 'node', 'system', 'guest', 'target', 'account'];

const TENANT_FIELD: FormField = {
  name: 'opt.tenant',
  key: 'tenant',
  label: 'tenant',
  kind: 'text',
  required: true,
  description: 'the tenant the action is for',
  options: [],
  list: 'list-tenant',
};

export interface LaunchForm {
  type: string;
  description: string;
  family: string;
  destructive: boolean;
  /** The argument whose value must be typed again to confirm (destructive types). */
  confirmKey: string | null;
  tenantFixed: string | null;
  args: FormField[];
  options: FormField[];
  lists: Record<string, string[]>;
  values: Record<string, string>;
  errors: Record<string, string>;
}

/** Whether a type acts on a node (the platform's shared hosts: no tenant owns one). */
function takesNode(def: ActionDefinition): boolean {
  return isActionType(def.type) && argFields(argsJsonSchema(def.type)).some((f) => f.key === 'node');
}

/**
 * The action types the current mode allows to this user, as the launch page lists them. Intake
 * takes node.* for any tenant (only the subscriber refuses it outside tenant cmq-platform), so the
 * console keeps a user bound to another tenant from launching a type that names a node.
 */
function allowedTypes(ctx: ConsoleContext, req: FastifyRequest): ActionDefinition[] {
  const scope = tenantScope(req);
  const nodes = scope === null || scope === PLATFORM_TENANT;
  return ACTION_DEFINITIONS.filter((d) => modeAllows(ctx.config.provisioning.mode, d.type) && (nodes || !takesNode(d)));
}

function definitionOf(ctx: ConsoleContext, req: FastifyRequest, type: string): ActionDefinition | undefined {
  return allowedTypes(ctx, req).find((d) => d.type === type);
}

async function formOfType(ctx: ConsoleContext, req: FastifyRequest, def: ActionDefinition): Promise<LaunchForm> {
  if (!isActionType(def.type)) throw new Error(`not an action type: ${def.type}`);
  const args = argFields(argsJsonSchema(def.type));
  const scope = tenantScope(req);
  const naming = [...new Set(['tenant', ...args.map((f) => f.key)])].filter((k): k is NamingField =>
    (NAMING_FIELDS as readonly string[]).includes(k),
  );
  return {
    type: def.type,
    description: def.description,
    family: def.family,
    destructive: def.destructive,
    confirmKey: def.destructive ? (TARGET_KEYS.find((k) => args.some((f) => f.key === k)) ?? null) : null,
    tenantFixed: scope,
    args,
    options: [TENANT_FIELD, ...OPTION_FIELDS],
    lists: await namedValues(ctx.database.sql, naming, scope),
    values: scope === null ? {} : { 'opt.tenant': scope },
    errors: {},
  };
}

async function renderForm(req: FastifyRequest, reply: FastifyReply, form: LaunchForm, code = 200): Promise<unknown> {
  if (wantsJson(req)) return reply.code(code).send(form);
  return reply
    .code(code)
    .viewAsync('launch-form.eta', { ...chrome(req, '/launch', `Launch ${form.type}`), data: form });
}

/** Why a destructive act is not confirmed yet (the target's name not typed again), or undefined. */
function unconfirmed(form: LaunchForm, body: Record<string, string>): string | undefined {
  if (form.confirmKey === null)
    return form.destructive && body.confirm !== form.type ? `type "${form.type}" to confirm` : undefined;
  const target = (body[`arg.${form.confirmKey}`] ?? '').trim();
  if (target !== '' && (body.confirm ?? '').trim() === target) return undefined;
  return `${form.type} is destructive: type the ${form.confirmKey}'s name (${target || 'as above'}) to confirm`;
}

async function submit(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
  def: ActionDefinition,
): Promise<unknown> {
  const form = await formOfType(ctx, req, def);
  const body = formOf(req);
  const asked = (body['opt.tenant'] ?? '').trim();
  const tenant = asked === '' ? (form.tenantFixed ?? '') : asked;
  if (!mayActOn(req, tenant)) return outsideTenant(reply, tenant);
  const fields = [...form.args, ...form.options.filter((f) => f.name !== 'opt.tenant')];
  const { raw, errors } = requestOfForm(def.type, tenant, fields, body);
  form.values = { ...body, 'opt.tenant': tenant };
  delete form.values._csrf;
  const refuse = async (why: Record<string, string>, outcome: 'refused' | 'failed' = 'refused'): Promise<unknown> => {
    form.errors = why;
    await auditAct(ctx, req, { action: 'action.submit', target: def.type, outcome, tenant, detail: { errors: why } });
    return renderForm(req, reply, form, 400);
  };
  if (Object.keys(errors).length > 0) return refuse(errors);
  const checked = parseRequest(raw);
  if (!checked.ok) return refuse(fieldErrors(checked.issues, [...fields, TENANT_FIELD]));
  const why = unconfirmed(form, body);
  if (why !== undefined) return refuse({ confirm: why });
  let id: string;
  try {
    [id = ''] = await insertActions(ctx.database.transaction.bind(ctx.database), [checked.request], consoleActor(req), {
      mode: ctx.config.provisioning.mode,
      keyring: () => Keyring.ifSet(ctx.config.km),
    });
  } catch (err) {
    if (err instanceof IntakeError) return refuse(fieldErrors(err.issues, [...fields, TENANT_FIELD]));
    throw err;
  }
  await auditAct(ctx, req, {
    action: 'action.submit',
    target: `action ${id}`,
    outcome: 'ok',
    tenant,
    detail: { type: def.type },
  });
  if (wantsJson(req)) return reply.code(201).send({ id });
  return reply.code(303).redirect(`/actions/${id}`);
}

/**
 * GET /launch (the types the mode allows), GET /launch/:type (its form, generated from the
 * type's JSON Schema), POST /launch/:type (validated by the same schema as `cmq call`, inserted
 * by the same intake, as `console:<user>`, audited). Operators only.
 */
export function registerLaunch(app: FastifyInstance, ctx: ConsoleContext): void {
  const operator = { preHandler: requireRole('operator') };
  app.get('/launch', operator, async (req, reply) => {
    const types = allowedTypes(ctx, req).map((d) => ({
      type: d.type,
      family: d.family,
      destructive: d.destructive,
      description: d.description,
    }));
    if (wantsJson(req)) return reply.send({ mode: ctx.config.provisioning.mode, types });
    return reply.viewAsync('launch.eta', {
      ...chrome(req, '/launch', 'Launch'),
      data: { mode: ctx.config.provisioning.mode, types },
    });
  });
  app.get('/launch/:type', operator, async (req, reply) => {
    const def = definitionOf(ctx, req, (req.params as { type: string }).type);
    if (def === undefined)
      return reply.code(404).send({
        error: `no action type ${(req.params as { type: string }).type} in mode ${ctx.config.provisioning.mode}`,
      });
    return renderForm(req, reply, await formOfType(ctx, req, def));
  });
  app.post('/launch/:type', operator, async (req, reply) => {
    const def = definitionOf(ctx, req, (req.params as { type: string }).type);
    if (def === undefined)
      return reply.code(404).send({
        error: `no action type ${(req.params as { type: string }).type} in mode ${ctx.config.provisioning.mode}`,
      });
    return submit(ctx, req, reply, def);
  });
}
