import type convict from 'convict';

/** One configuration file: its name in the config dir, what it is for, and its convict schema. */
export interface FileSpec<T = unknown> {
  /** File name inside the config dir, e.g. `mq.cfg`. */
  readonly file: string;
  /** One line saying what the file holds (first line of the generated sample). */
  readonly title: string;
  /** Environment override prefix: `CMQ_` for shared files, `CMQ_<SERVICE>_` for a process's own. */
  readonly envPrefix: string;
  readonly schema: convict.Schema<T>;
  /** Checks across keys after each key is valid; returns problems as [key, message]. */
  crossCheck?(value: T): Array<[string, string]>;
  /**
   * Checks the files that values name (they exist, can be read and parse); returns problems as
   * [key, message]. Run at every load, so every process and `cmq config check` refuse alike.
   */
  checkFiles?(value: T): Array<[string, string]>;
}

/** A leaf of a convict schema, as this project writes them. */
export interface LeafSchema {
  doc: string;
  format: unknown;
  default: unknown;
  env?: string;
  sensitive?: boolean;
}

export function isLeaf(node: unknown): node is LeafSchema {
  return typeof node === 'object' && node !== null && 'default' in node && 'doc' in node;
}

/** Calls `visit` on every leaf of a schema with its dotted key, in declaration order. */
export function walkSchema(schema: unknown, visit: (key: string, leaf: LeafSchema) => void, prefix = ''): void {
  for (const [name, node] of Object.entries(schema as Record<string, unknown>)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (isLeaf(node)) visit(key, node);
    else walkSchema(node, visit, key);
  }
}

/** The environment variable that overrides `key` in a file with `envPrefix`. */
export function envName(envPrefix: string, key: string): string {
  return envPrefix + key.toUpperCase().replace(/[^A-Z0-9]+/g, '_');
}
