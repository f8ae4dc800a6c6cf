import { isRowId } from '@cmq/actions';
import { ACTION_STATES, FAMILIES } from '@cmq/common';
import type { FastifyRequest } from 'fastify';
import { BadQuery } from './pages';

/** The query string's values as strings ('' and absent both read as undefined). */
export function queryOf(req: FastifyRequest): Record<string, string | undefined> {
  const q = (req.query ?? {}) as Record<string, unknown>;
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(q)) {
    const s: unknown = Array.isArray(v) ? (v as unknown[])[0] : v;
    out[k] = typeof s === 'string' && s.trim() !== '' ? s.trim() : undefined;
  }
  return out;
}

export function oneOfParam(name: string, value: string | undefined, allowed: readonly string[]): string | undefined {
  if (value === undefined || allowed.includes(value)) return value;
  throw new BadQuery(name, `"${value}" is not one of ${allowed.join(', ')}`);
}

export function timeParam(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new BadQuery(name, `"${value}" is not a time (e.g. 2026-12-07T14:00 or 2026-12-07)`);
  return new Date(t);
}

export function idParam(name: string, value: string | undefined): string | undefined {
  if (value === undefined || isRowId(value)) return value;
  throw new BadQuery(name, `"${value}" is not an action id`);
}

export function textParam(name: string, value: string | undefined, max = 200): string | undefined {
  if (value !== undefined && value.length > max) throw new BadQuery(name, `longer than ${max} characters`);
  return value;
}

export const STATE_VALUES: readonly string[] = ACTION_STATES;
export const FAMILY_VALUES: readonly string[] = FAMILIES;
