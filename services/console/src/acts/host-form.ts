import { type AuditOutcome, privateKeyProblem } from '@cmq/actions';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ConsoleContext } from '../context';
import { chrome } from '../pages';
import { auditAct, consoleKeyring, wantsJson } from './act-common';

/**
 * What the node and guest forms (views host-node-form.eta, host-guest-form.eta) show: the values
 * given (never the private key: it is a write-only field), an error beside each field that has
 * one ('' for the form as a whole), and why no key can be stored when the console has no keyring.
 */
export interface HostForm {
  /** Where the form posts. */
  action: string;
  /** `add`, or `edit` (a node: every field but the key prefilled; an empty key keeps the stored one). */
  mode: 'add' | 'edit';
  values: Record<string, string>;
  errors: Record<string, string>;
  keyProblem: string | null;
  /** Guests: the tenants the user may pick (one for a tenant-bound user). */
  tenants?: string[];
}

/** The form field of the private key; only ever read, never put back into a page or a detail. */
export const KEY_FIELD = 'privateKey';

/** The form's key, checked and encrypted (its clear bytes zeroed), or the error to show beside it. */
export function sealFormKey(ctx: ConsoleContext, text: string): { encrypted: string } | { error: string } {
  const ring = consoleKeyring(ctx);
  if ('problem' in ring) return { error: ring.problem };
  if (text.trim() === '') return { error: 'private key: paste the private key (PEM or OpenSSH)' };
  const problem = privateKeyProblem(text);
  if (problem !== undefined) return { error: `private key: ${problem}` };
  // A textarea sends CRLF line ends; the key file the CLI reads has LF ones.
  const key = Buffer.from(text.replace(/\r\n/g, '\n'), 'utf8');
  try {
    return { encrypted: ring.keyring.encrypt(key) };
  } finally {
    key.fill(0);
  }
}

/**
 * A form field as text, trimmed, its line ends LF; '' when absent. A browser sends a textarea's
 * line ends as CRLF: kept, a command of several lines would reach the node's shell with a CR on
 * each line, and the edit form would count an untouched command as changed.
 */
export function fieldOf(body: Record<string, string>, name: string): string {
  return (body[name] ?? '').replace(/\r\n?/g, '\n').trim();
}

/** A port field: '' gives `fallback`; anything but digits gives NaN (the host rules name it). */
export function portOf(text: string, fallback: number | undefined): number | undefined {
  if (text === '') return fallback;
  return /^\d{1,5}$/.test(text) ? Number(text) : Number.NaN;
}

/** Renders `template` with `form` (a page, or the form as JSON under /api or Accept: application/json). */
export async function renderHostForm(
  req: FastifyRequest,
  reply: FastifyReply,
  template: string,
  title: string,
  form: HostForm,
  code = 200,
): Promise<unknown> {
  if (wantsJson(req)) return reply.code(code).send(form);
  return reply.code(code).viewAsync(template, { ...chrome(req, '/cloud', title), data: form });
}

/** Audits a refused form (the errors, which never hold the key) and shows it again with them, 400. */
export async function refuseForm(
  ctx: ConsoleContext,
  req: FastifyRequest,
  reply: FastifyReply,
  view: { template: string; title: string },
  audit: { action: string; target: string | null; tenant: string | null },
  form: HostForm,
  outcome: AuditOutcome = 'refused',
): Promise<unknown> {
  await auditAct(ctx, req, { ...audit, outcome, detail: { errors: form.errors } });
  return renderHostForm(req, reply, view.template, view.title, form, 400);
}
