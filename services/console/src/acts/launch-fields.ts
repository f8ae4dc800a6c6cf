import { type RawRequest, type RequestIssue, issueText } from '@cmq/actions';

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
 * The form field an issue of parseRequest or intake concerns (`arg.sleep_ms`, `opt.priority`),
 * with the message to show there; `''` and the whole text for what names no field of the form.
 */
function placeIssue(issue: RequestIssue, fields: readonly FormField[]): { name: string; message: string } {
  const [head, key] = issue.path;
  const name = head === 'args' ? (key === undefined ? '' : `arg.${key}`) : head === undefined ? '' : `opt.${head}`;
  const inner = issue.path.slice(head === 'args' ? 2 : 1);
  if (name === '' || !fields.some((f) => f.name === name)) return { name: '', message: issueText(issue) };
  // Below the field (an element of a list, a key of an object): say which.
  return { name, message: inner.length === 0 ? issue.message : `${inner.join('.')}: ${issue.message}` };
}

/** The issues of a refused request, one message per form field; what names no field goes under `''` (shown above the form). */
export function fieldErrors(issues: readonly RequestIssue[], fields: readonly FormField[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of issues) {
    const { name, message } = placeIssue(issue, fields);
    out[name] = out[name] === undefined ? message : `${out[name]}; ${message}`;
  }
  return out;
}
