import { z } from 'zod';

const ID_RE = /^[1-9]\d{0,18}$/;
const MAX_ID = 2n ** 63n - 1n;

/**
 * Whether `text` is a row id (actions, accounts): a positive integer that fits PostgreSQL's
 * bigint. Nineteen digits can exceed it, and PostgreSQL refuses such a value outright: one in a
 * batch of claims failed the whole batch, one in an account argument failed every attempt.
 */
export function isRowId(text: string): boolean {
  return ID_RE.test(text) && BigInt(text) <= MAX_ID;
}

/** An action id (see {@link isRowId}). */
export const isActionId = isRowId;

/** An action argument naming one of the tenant's cloud accounts. */
export const ACCOUNT_ID = z.string().refine(isRowId, { message: 'an account id of the tenant (cmq accounts list)' });

/** An action argument naming one of the tenant's guests. */
export const GUEST_ID = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a guest id of the tenant (cmq guests list)');
