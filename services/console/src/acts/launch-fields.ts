import { type RawRequest } from '@cmq/actions';

/** One input of a generated launch form, read from the type's JSON Schema (never written per type). */
export interface FormField {
  /** The form field's name: `arg.<key>` for an argument, `opt.<key>` for a `cmq call` option. */
  name: string;
  key: string;
  label: string;
  /** `number`, `text`, `select` (enum or boolean), `json` (object or array: a textarea of JSON), `datetime`. */
  kind: 'number' | 'text' | 'select' | 'json' | 'datetime';
  required: boolean;
  description: string;
  options: string[];
  min?: number;
  max?: number;
  maxLength?: number;
  step?: string;
  default?: string;
  /** The id of the datalist offering existing values (inputs that name a tenant, account, server...). */
  list?: string;
}

type Schema = Record<string, unknown>;

/** Argument names whose existing values the form offers (the key of each datalist). */
export const NAMING_FIELDS = ['tenant', 'account', 'guest', 'node', 'server', 'image'] as const;
export type NamingField = (typeof NAMING_FIELDS)[number];

function num(v: unknown): number | undefined {
  return typeof v === 'number' ? v : undefined;
}

function kindOf(prop: Schema): { kind: FormField['kind']; options: string[] } {
  if (Array.isArray(prop.enum)) return { kind: 'select', options: prop.enum.map(String) };
  if (prop.type === 'boolean') return { kind: 'select', options: ['true', 'false'] };
  if (prop.type === 'integer' || prop.type === 'number') return { kind: 'number', options: [] };
  if (prop.type === 'string') return { kind: prop.format === 'date-time' ? 'datetime' : 'text', options: [] };
  return { kind: 'json', options: [] };
}

/** The fields of an action type's arguments, from `argsJsonSchema(type)`. */
export function argFields(schema: Schema): FormField[] {
  const props = (schema.properties ?? {}) as Record<string, Schema>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  return Object.entries(props).map(([key, prop]) => {
    const { kind, options } = kindOf(prop);
    const field: FormField = {
      name: `arg.${key}`,
      key,
      label: key,
      kind,
      required: required.has(key),
      description: typeof prop.description === 'string' ? prop.description : '',
      options,
      min: num(prop.minimum),
      max: num(prop.maximum),
      maxLength: num(prop.maxLength),
      step: prop.type === 'integer' ? '1' : 'any',
      default: prop.default === undefined ? undefined : JSON.stringify(prop.default).replace(/^"|"$/g, ''),
    };
    if ((NAMING_FIELDS as readonly string[]).includes(key)) field.list = `list-${key}`;
    return field;
  });
}

/** The options of `cmq call` (packages/actions/src/request.ts RequestShape), as form fields. */
export const OPTION_FIELDS: readonly FormField[] = [
  {
    name: 'opt.idempotency_key',
    key: 'idempotency_key',
    label: 'idempotency key',
    kind: 'text',
    required: false,
    description: "the same key (per tenant) gives back the existing action's id",
    options: [],
    maxLength: 200,
  },
  {
    name: 'opt.countdown',
    key: 'countdown',
    label: 'countdown (s)',
    kind: 'number',
    required: false,
    description: 'run no earlier than this many seconds from now',
    options: [],
    min: 0,
    step: 'any',
  },
  {
    name: 'opt.eta',
    key: 'eta',
    label: 'ETA',
    kind: 'datetime',
    required: false,
    description: 'run no earlier than this time (ISO 8601 with offset); not with countdown',
    options: [],
  },
  {
    name: 'opt.expires',
    key: 'expires',
    label: 'expires',
    kind: 'datetime',
    required: false,
    description: 'never run after this time (ISO 8601 with offset): the action ends expired',
    options: [],
  },
  {
    name: 'opt.priority',
    key: 'priority',
    label: 'priority',
    kind: 'number',
    required: false,
    description: 'from -100 to 100; higher goes first within a tenant',
    options: [],
    min: -100,
    max: 100,
    step: '1',
    default: '0',
  },
  {
    name: 'opt.max_attempts',
    key: 'max_attempts',
    label: 'max attempts',
    kind: 'number',
    required: false,
    description: 'attempts before it ends dead',
    options: [],
    min: 1,
    max: 100,
    step: '1',
    default: '5',
  },
];

const NUMBER_RE = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/** A form value as the schema wants it, or the text (for the schema to refuse by name). */
function typed(field: FormField, text: string): { value: unknown } | { error: string } {
  if (field.kind === 'number') return { value: NUMBER_RE.test(text) ? Number(text) : text };
  if (field.kind === 'select' && field.options.join() === 'true,false') return { value: text === 'true' };
  if (field.kind !== 'json') return { value: text };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch (err) {
    return { error: `not JSON: ${(err as Error).message}` };
  }
}

/** The request the form describes (the shape of one `cmq call --stdin` line), and the fields that are not even JSON. */
export function requestOfForm(
  type: string,
  tenant: string,
  fields: readonly FormField[],
  body: Record<string, string>,
): { raw: RawRequest; errors: Record<string, string> } {
  const args: Record<string, unknown> = {};
  const raw: Record<string, unknown> = { type, tenant, args };
  const errors: Record<string, string> = {};
  for (const f of fields) {
    const text = (body[f.name] ?? '').trim();
    if (text === '') continue;
    const v = typed(f, text);
    if ('error' in v) errors[f.name] = v.error;
    else if (f.name.startsWith('arg.')) args[f.key] = v.value;
    else raw[f.key] = v.value;
  }
  return { raw: raw as RawRequest, errors };
}

/**
 * Splits parseRequest's error ("args.sleep_ms: Too big...; priority: ...") into one message per
 * form field; what names no field goes under `''` (shown above the form).
 */
export function fieldErrors(error: string, fields: readonly FormField[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of error.split('; ')) {
    const m = /^([a-z_]+)(?:\.([A-Za-z0-9_]+))?[^:]*: (.*)$/s.exec(part);
    const name =
      m === null ? '' : m[1] === 'args' && m[2] !== undefined ? `arg.${m[2]}` : m[1] === 'args' ? '' : `opt.${m[1]}`;
    const known = fields.some((f) => f.name === name) ? name : '';
    const message = known === '' ? part : (m?.[3] ?? part);
    out[known] = out[known] === undefined ? message : `${out[known]}; ${message}`;
  }
  return out;
}
