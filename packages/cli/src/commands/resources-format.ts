import {
  RESOURCE_KINDS,
  type ChangeRow,
  type ResourceKind,
  type ResourceRow,
  type ResourceState,
  isRowId,
} from '@cmq/actions';
import { InvalidArgumentError } from 'commander';
import { oneLine, safeJson, table, time } from '../format';

/** Commander parser: a resource kind. */
export function resourceKind(value: string): ResourceKind {
  if (!(RESOURCE_KINDS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`must be one of ${RESOURCE_KINDS.join(', ')}`);
  return value as ResourceKind;
}

/** Commander parser: an account id. */
export function accountId(value: string): string {
  if (!isRowId(value)) throw new InvalidArgumentError('must be an account id (cmq accounts list)');
  return value;
}

function str(v: unknown): string {
  if (v === undefined || v === null || v === '') return '-';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return safeJson(v);
}

/** NAME, STATE and the details that matter most for a resource of `kind`. */
function summary(kind: ResourceKind, s: ResourceState): [string, string, string] {
  switch (kind) {
    case 'server': {
      const addresses = (s.addresses ?? {}) as { public?: string[]; private?: string[] };
      const addr = [...(addresses.public ?? []), ...(addresses.private ?? [])].join(',');
      return [str(s.name), str(s.state), `${str(s.image)} ${str(s.size)} ${addr === '' ? '-' : addr}`];
    }
    case 'firewall': {
      const rules = Array.isArray(s.rules) ? s.rules.length : 0;
      return [str(s.name), '-', `${rules} rule${rules === 1 ? '' : 's'}`];
    }
    case 'volume':
      return ['-', str(s.state), `${str(s.size_gb)} GB${s.attachedTo === undefined ? '' : ` on ${str(s.attachedTo)}`}`];
    case 'budget':
      return [
        '-',
        '-',
        `${str(s.amount)} ${str(s.currency)} since ${str(s.periodStart)}${s.limit === undefined ? '' : ` of ${str(s.limit)}`}`,
      ];
    case 'system':
      return [str(s.name), str(s.power), `profile=${str(s.profile)} netboot=${str(s.netboot_enabled)}`];
    case 'sensor':
      return [str(s.name), str(s.status), `${str(s.unit)} thresholds=${str(s.thresholds)}`];
  }
}

/** `cmq resources`: one line per resource. */
export function resourcesTable(rows: readonly ResourceRow[], withGone: boolean): string {
  const header = [
    'ACCOUNT',
    'KIND',
    'ID',
    'NAME',
    'STATE',
    'FIRST SEEN',
    'LAST SEEN',
    ...(withGone ? ['GONE'] : []),
    'DETAILS',
  ];
  return table(
    header,
    rows.map((r) => {
      const [name, state, details] = summary(r.kind, r.state);
      return [
        r.account_id,
        r.kind,
        r.resource_id,
        name,
        state,
        time(r.first_seen),
        time(r.last_seen),
        ...(withGone ? [time(r.gone_at)] : []),
        oneLine(details, 120),
      ];
    }),
  );
}

/** What changed, on one line: `state: running → terminated; name: a → b`, or the summary of a created one. */
function changeText(r: ChangeRow): string {
  if (r.change === 'changed') {
    return Object.entries(r.fields)
      .map(([field, v]) => {
        const { old, new: now } = v as { old: unknown; new: unknown };
        return `${field}: ${str(old)} → ${str(now)}`;
      })
      .join('; ');
  }
  const [name, state, details] = summary(r.kind, r.fields);
  return [name !== '-' ? name : '', state !== '-' ? state : '', details].filter((x) => x !== '').join(' ');
}

/** `cmq changes`: one line per change. */
export function changesTable(rows: readonly ChangeRow[]): string {
  return table(
    ['AT', 'ACCOUNT', 'KIND', 'ID', 'CHANGE', 'WHAT'],
    rows.map((r) => [time(r.at), r.account_id, r.kind, r.resource_id, r.change, oneLine(changeText(r), 200)]),
  );
}
