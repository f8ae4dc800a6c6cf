import { type ActionFilter, countActions, listActions } from '@cmq/actions';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context';
import { view } from '../pages';
import { FAMILY_VALUES, STATE_VALUES, idParam, oneOfParam, queryOf, textParam, timeParam } from '../query-params';
import { scopedTenant } from '../scope';

/** Counts stop here: "1000+" is said instead of scanning millions of rows for an exact figure. */
export const COUNT_CAP = 1_000;

/** One row of the list: what the table shows, arguments cut short (the action's page has them whole). */
export interface ActionListRow {
  id: string;
  tenant: string;
  type: string;
  family: string;
  state: string;
  attempts: number;
  worker: string | null;
  created_at: Date;
  finished_at: Date | null;
  args: string;
  error: string | null;
}

export interface ActionList {
  filter: Record<string, string | undefined>;
  rows: ActionListRow[];
  /** Matching actions, counted up to `count_cap` (`count >= count_cap` means at least that many). */
  count: number;
  count_cap: number;
  /** The `before` of the next (older) page, null on the last page. */
  next: string | null;
  states: readonly string[];
  families: readonly string[];
}

function short(text: string | null, max: number): string | null {
  if (text === null) return null;
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function filterOf(req: FastifyRequest): {
  filter: Omit<ActionFilter, 'limit'>;
  shown: Record<string, string | undefined>;
} {
  const q = queryOf(req);
  const filter: Omit<ActionFilter, 'limit'> = {
    tenant: scopedTenant(req, textParam('tenant', q.tenant, 63)) ?? undefined,
    state: oneOfParam('state', q.state, STATE_VALUES),
    type: textParam('type', q.type, 100),
    family: oneOfParam('family', q.family, FAMILY_VALUES),
    worker: textParam('worker', q.worker),
    since: timeParam('since', q.since),
    until: timeParam('until', q.until),
    text: textParam('q', q.q),
    before: idParam('before', q.before),
  };
  const shown = { ...q, tenant: filter.tenant };
  return { filter, shown };
}

/** GET /actions and /api/actions: newest first, filtered, one keyset page (never an OFFSET). */
export function registerActions(app: FastifyInstance, ctx: ConsoleContext): void {
  const pageSize = ctx.config.own.console.page_size;
  view<ActionList>(app, '/actions', 'actions', 'Actions', async (req) => {
    const { filter, shown } = filterOf(req);
    const sql = ctx.database.sql;
    const counted = { ...filter, before: undefined };
    const [rows, count] = await Promise.all([
      listActions(sql, { ...filter, limit: pageSize + 1 }),
      countActions(sql, counted, COUNT_CAP),
    ]);
    const page = rows.slice(0, pageSize);
    return {
      filter: shown,
      rows: page.map((r) => ({
        id: r.id,
        tenant: r.tenant_id,
        type: r.type,
        family: r.family,
        state: r.state,
        attempts: r.attempts,
        worker: r.worker,
        created_at: r.created_at,
        finished_at: r.finished_at,
        args: short(JSON.stringify(r.args), 120) ?? '',
        error: short(r.error, 160),
      })),
      count,
      count_cap: COUNT_CAP,
      next: rows.length > pageSize ? (page.at(-1)?.id ?? null) : null,
      states: STATE_VALUES,
      families: FAMILY_VALUES,
    };
  });
}
