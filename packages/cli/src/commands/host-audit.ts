import { recordAudit } from '@cmq/actions';
import type { Sql } from '@cmq/common';
import { cliActor } from '../cli-db';
import type { Env } from '../config-set';

/**
 * One `audit_log` row for an administration of nodes or guests from the CLI (`node.add`,
 * `guest.deactivate`, ...), as `cmq users` records its acts: the actor is `cli:<user>@<host>`.
 * The detail names fields, never a key.
 */
export async function auditHostAct(
  sql: Sql,
  env: Env,
  act: { action: string; target: string; tenant: string; detail?: Record<string, unknown> },
): Promise<void> {
  await recordAudit(sql, {
    actor: cliActor(env),
    action: act.action,
    target: act.target,
    outcome: 'ok',
    tenant: act.tenant,
    detail: { ...(act.detail ?? {}), via: 'cli' },
  });
}
