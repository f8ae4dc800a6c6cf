/** A resource's state as stored (resources.state): a JSON object. */
export type ResourceState = Record<string, unknown>;

/** One changed top-level field: its value before and after (null when absent). */
export interface FieldChange {
  old: unknown;
  new: unknown;
}

export interface ResourceDiff {
  created: Array<{ id: string; state: ResourceState }>;
  changed: Array<{ id: string; fields: Record<string, FieldChange>; state: ResourceState }>;
  /** Present before, not listed now: the last state seen. */
  gone: Array<{ id: string; state: ResourceState }>;
  unchanged: number;
}

function sortDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortDeep);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortDeep(v);
    }
    return out;
  }
  return value;
}

/** JSON with object keys sorted (at every depth) and undefined fields left out: equal values, equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortDeep(value)) ?? 'null';
}

/**
 * A provider record as a JSON state: undefined fields dropped, keys sorted, and arrays whose order
 * means nothing (a firewall's rules, a rule's sources) sorted, so that a provider listing the
 * same thing in another order is not a change.
 */
export function normalizeState(record: object): ResourceState {
  const sorted = sortDeep(record) as ResourceState;
  const rules = sorted.rules;
  if (Array.isArray(rules)) {
    const sortSources = (rule: unknown): unknown => {
      if (rule === null || typeof rule !== 'object') return rule;
      const sources = (rule as { sources?: unknown }).sources;
      return Array.isArray(sources) ? { ...rule, sources: sources.map(String).sort() } : rule;
    };
    sorted.rules = rules.map(sortSources).sort((a, b) => canonicalJson(a).localeCompare(canonicalJson(b)));
  }
  return sorted;
}

/** The top-level fields whose values differ (compared as canonical JSON); absent counts as null. */
export function diffFields(before: ResourceState, after: ResourceState): Record<string, FieldChange> {
  const changes: Record<string, FieldChange> = {};
  for (const key of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
    const a = before[key] ?? null;
    const b = after[key] ?? null;
    if (canonicalJson(a) !== canonicalJson(b)) changes[key] = { old: a, new: b };
  }
  return changes;
}

/**
 * Compares what is stored (resources not gone) with what the provider lists now: listed and
 * not stored is created, stored and not listed is gone, both with differing fields is changed.
 * (A server in state `terminated` is listed, so it is a change of state, not gone.)
 */
export function diffResources(
  stored: ReadonlyMap<string, ResourceState>,
  listed: ReadonlyMap<string, ResourceState>,
): ResourceDiff {
  const diff: ResourceDiff = { created: [], changed: [], gone: [], unchanged: 0 };
  for (const [id, state] of listed) {
    const before = stored.get(id);
    if (before === undefined) {
      diff.created.push({ id, state });
      continue;
    }
    const fields = diffFields(before, state);
    if (Object.keys(fields).length === 0) diff.unchanged += 1;
    else diff.changed.push({ id, fields, state });
  }
  for (const [id, state] of stored) if (!listed.has(id)) diff.gone.push({ id, state });
  return diff;
}
