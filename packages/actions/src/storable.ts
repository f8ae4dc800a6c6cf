import { type RequestIssue, issueText } from './request-issues';

/**
 * What PostgreSQL cannot store in text or jsonb: U+0000 (NUL), and half of a UTF-16 surrogate pair
 * (a JavaScript string can hold one; it is not Unicode text, and jsonb refuses its `\ud800`
 * escape). Both can arrive in JSON (`"\u0000"`) from `cmq call --args`, `--stdin` or a message
 * published straight onto the broker; left to the database they fail the whole insert with an
 * error that names no field, and a subscriber would retry it forever.
 */
// A surrogate not paired with its other half.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function problem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which cannot be stored';
  const lone = LONE_SURROGATE.exec(text);
  if (lone !== null)
    return `contains U+${lone[0].charCodeAt(0).toString(16).toUpperCase()}, half a UTF-16 surrogate pair (not Unicode text), which cannot be stored`;
  return undefined;
}

/**
 * The first string in `value` (a string, or any key or string value of the arrays and objects in
 * it) that PostgreSQL cannot store, as an issue at its path (`['args', 'env', 'X']`,
 * `['args', 'list', '2']`; a key: the path of its object); undefined when there is none.
 */
export function unstorableIssue(value: unknown, path: readonly string[]): RequestIssue | undefined {
  if (typeof value === 'string') {
    const why = problem(value);
    return why === undefined ? undefined : { path, message: why };
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i += 1) {
      const found = unstorableIssue(value[i], [...path, String(i)]);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, v] of Object.entries(value)) {
      const why = problem(key);
      if (why !== undefined) return { path, message: `a key ${why}` };
      const found = unstorableIssue(v, [...path, key]);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/** {@link unstorableIssue} as text, `path: why` (path `args.env.X`, `args.list.2`); undefined when there is none. */
export function unstorable(value: unknown, path: string): string | undefined {
  const issue = unstorableIssue(value, [path]);
  return issue === undefined ? undefined : issueText(issue);
}

/** JSON.stringify's escapes of a NUL or of a lone surrogate (it writes paired ones as they are). */
const UNSTORABLE_ESCAPE = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;

/**
 * {@link unstorableIssue} for a value already serialized as `json` (JSON.stringify escapes every NUL
 * and half surrogate pair, in keys too): the walk is skipped when the text shows neither.
 */
export function unstorableJson(value: unknown, json: string, path: readonly string[]): RequestIssue | undefined {
  return UNSTORABLE_ESCAPE.test(json) ? unstorableIssue(value, path) : undefined;
}

/** `text` with each NUL written as the six characters `\u0000`, for a column that must keep what arrived. */
export function storableText(text: string): string {
  return text.includes('\u0000') ? text.split('\u0000').join('\\u0000') : text;
}

const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

function storableString(text: string): string {
  return storableText(text).replace(LONE_SURROGATES, '\ufffd');
}

/**
 * `value` as JSON.stringify sees it (toJSON applied once, as it does: a Date, a Buffer), its
 * strings made storable.
 */
function storableValue(value: unknown, key = '', toJSONDone = false): unknown {
  if (typeof value === 'string') return storableString(value);
  if (typeof value !== 'object' || value === null) return value;
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (!toJSONDone && typeof toJSON === 'function')
    return storableValue((toJSON as (k: string) => unknown).call(value, key), key, true);
  if (Array.isArray(value)) return value.map((v, i) => storableValue(v, String(i)));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableString(k), storableValue(v, k)]));
}

/**
 * `JSON.stringify(value)` for a jsonb column, for values made of what a handler saw (a remote
 * command's output, a provider's answer): a NUL is written `\u0000` (six characters), half a
 * surrogate pair becomes U+FFFD. Unchanged, and as cheap as JSON.stringify, when neither occurs.
 * (Refusing is for requests; what already happened must still be recorded.)
 */
export function storableJson(value: unknown): string {
  const text = JSON.stringify(value);
  return UNSTORABLE_ESCAPE.test(text) ? JSON.stringify(storableValue(value)) : text;
}

/**
 * Texts as one JSON array argument, for a statement to unpack with `json_array_elements_text` (a
 * null stays SQL NULL), each made storable (NUL written `\u0000`, half a surrogate pair U+FFFD).
 * pg writes a text[] or jsonb[] argument as an array literal, escaping every `"` and `\` of it
 * with a regular expression, which takes seconds for a large output; JSON.stringify escapes
 * natively (docs/decisions/0009-large-text-as-one-json-argument.md).
 */
export function jsonTextArray(texts: ReadonlyArray<string | null>): string {
  return JSON.stringify(texts.map((t) => (t === null ? null : storableString(t))));
}

/**
 * JSON documents (each already JSON text) as one JSON array argument, for the same reason, each
 * wrapped in `[ ]` and a missing one written `[]`, so that it differs from a JSON null: unpack
 * with `jsonb_array_elements` and `-> 0` (SQL NULL for `[]`; not `null -> 0`, which is `null`).
 */
export function jsonDocArray(docs: ReadonlyArray<string | null | undefined>): string {
  // undefined: what JSON.stringify gives for a value JSON has no form for at the top (a function).
  return `[${docs.map((d) => (d === null || d === undefined ? '[]' : `[${d}]`)).join(',')}]`;
}

/**
 * Most bytes of JSON one statement's argument carries: PostgreSQL holds a jsonb value in at most
 * 256 MB (and a statement's arguments in one message of at most 1 GB), and pg builds each
 * argument as one JavaScript string (at most 2^29 UTF-16 units). A larger batch is sent by
 * several statements (see sizeRanges).
 */
export const MAX_ARGUMENT_BYTES = 64 * 1024 * 1024;

/** The UTF-8 bytes of `text`, or for a short one an upper bound (3 a UTF-16 unit): cheap to add up. */
export function utf8Bound(text: string | null | undefined): number {
  if (text === null || text === undefined) return 0;
  return text.length <= 1_000_000 ? text.length * 3 : Buffer.byteLength(text);
}

/**
 * Splits items of the given `sizes`, in order, into runs `[start, end)` of at most `max` in
 * all; an item larger than `max` goes alone. One run when everything fits.
 */
export function sizeRanges(sizes: readonly number[], max = MAX_ARGUMENT_BYTES): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let start = 0;
  let total = 0;
  sizes.forEach((size, i) => {
    if (i > start && total + size > max) {
      ranges.push([start, i]);
      start = i;
      total = 0;
    }
    total += size;
  });
  if (sizes.length > start) ranges.push([start, sizes.length]);
  return ranges;
}
