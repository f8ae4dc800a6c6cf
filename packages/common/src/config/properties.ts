import { getProperties } from 'properties-file';

/**
 * Parses Java properties text and nests dotted keys (`amqp.url=x` → `{ amqp: { url: 'x' } }`):
 * convict keeps flat dotted keys as unknown top-level keys, so the defaults would stay in force.
 * Returns the nested object and the keys that clash (`a=1` beside `a.b=2`).
 */
export function parseProperties(content: string): { values: Record<string, unknown>; clashes: string[] } {
  const flat = getProperties(content);
  const values: Record<string, unknown> = {};
  const clashes: string[] = [];
  for (const [key, value] of Object.entries(flat)) {
    if (!insert(values, key.split('.'), value)) clashes.push(key);
  }
  return { values, clashes };
}

function insert(target: Record<string, unknown>, parts: string[], value: string): boolean {
  let node = target;
  for (let i = 0; i < parts.length - 1; i += 1) {
    const part = parts[i] as string;
    const next = node[part];
    if (next === undefined) node[part] = {};
    else if (typeof next !== 'object') return false;
    node = node[part] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1] as string;
  if (typeof node[last] === 'object') return false;
  node[last] = value;
  return true;
}
