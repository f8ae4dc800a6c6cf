import { type FileSpec, type LeafSchema, envName, walkSchema } from './file-spec';
import { formatDuration } from './formats';
import type { LoadedFile } from './loader';

/** A value as it would be written in a properties file. */
export function display(leaf: LeafSchema, value: unknown): string {
  if (typeof leaf.format === 'string' && leaf.format.startsWith('cmq-duration') && typeof value === 'number') {
    return formatDuration(value);
  }
  if (Array.isArray(value)) return value.join(',');
  return String(value);
}

/** Masks a secret: the password of a URL, or the whole value. Empty stays empty. */
export function maskSecret(value: string): string {
  if (value === '') return '';
  try {
    const url = new URL(value);
    if (url.password !== '' && url.host !== '') {
      url.password = '****';
      return url.toString();
    }
    if (url.host !== '') return value;
  } catch {
    // not a URL: mask it whole
  }
  return '****';
}

function masked(leaf: LeafSchema, value: unknown): string {
  if (!leaf.sensitive) return display(leaf, value);
  if (Array.isArray(value)) return value.map((v) => maskSecret(String(v))).join(',');
  return maskSecret(String(value));
}

/** The commented sample of one file: every key commented out at its default, with its doc and env. */
export function renderSample(spec: FileSpec): string {
  const out = [
    `# ${spec.file} — ${spec.title}`,
    '#',
    '# Java properties syntax. Every key is optional: a commented key keeps the default shown.',
    '# Generated from the schema by `npm run samples`; a test fails when this file is stale.',
    '',
  ];
  walkSchema(spec.schema, (key, leaf) => {
    out.push(`# ${leaf.doc}`);
    out.push(`# env: ${envName(spec.envPrefix, key)}${leaf.sensitive ? ' (secret: masked in every output)' : ''}`);
    out.push(`#${key}=${display(leaf, leaf.default)}`, '');
  });
  return out.join('\n');
}

/** The effective configuration of one loaded file, secrets masked, one `key=value` per line. */
export function renderEffective(file: LoadedFile<unknown>): string {
  const lines = [`# ${file.path}${file.exists ? '' : ' (absent: defaults)'}`];
  for (const [key, value] of effectiveEntries(file)) lines.push(`${key}=${value}`);
  return lines.join('\n');
}

/** Every key of one loaded file with its effective value as written, secrets masked. */
export function effectiveEntries(file: LoadedFile<unknown>): Array<[string, string]> {
  const entries: Array<[string, string]> = [];
  walkSchema(file.spec.schema, (key, leaf) => {
    let node: unknown = file.value;
    for (const part of key.split('.')) node = (node as Record<string, unknown>)[part];
    entries.push([key, masked(leaf, node)]);
  });
  return entries;
}

/** Paths of every sensitive key of a spec, for log redaction. */
export function sensitiveKeys(spec: FileSpec): string[] {
  const keys: string[] = [];
  walkSchema(spec.schema, (key, leaf) => {
    if (leaf.sensitive) keys.push(key);
  });
  return keys;
}
