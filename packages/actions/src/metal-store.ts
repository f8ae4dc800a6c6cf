import type { Sql } from '@cmq/common';

/** How far one metal.provision got: each step is recorded as soon as it is done. */
export const PROVISION_STEPS = ['assigned', 'synced', 'cycling'] as const;
export type ProvisionStep = (typeof PROVISION_STEPS)[number];

export interface ProvisionProgress {
  account: string;
  system: string;
  profile: string;
  step: ProvisionStep;
}

/** The step a run of `actionId` reached before (a rerun after a crash), or undefined for a first run. */
export async function provisionProgress(sql: Sql, actionId: string): Promise<ProvisionStep | undefined> {
  const { rows } = await sql.query<{ step: ProvisionStep }>('SELECT step FROM metal_provisions WHERE action_id = $1', [
    actionId,
  ]);
  return rows[0]?.step;
}

/** Records that `actionId` finished `p.step` (a later step replaces an earlier one). */
export async function recordProvisionStep(sql: Sql, actionId: string, p: ProvisionProgress): Promise<void> {
  await sql.query(
    `INSERT INTO metal_provisions (action_id, account_id, system, profile, step) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (action_id) DO UPDATE SET step = EXCLUDED.step, updated_at = now()`,
    [actionId, p.account, p.system, p.profile, p.step],
  );
}

/** Whether step `done` includes `step` (steps happen in PROVISION_STEPS order). */
export function stepDone(done: ProvisionStep | undefined, step: ProvisionStep): boolean {
  return done !== undefined && PROVISION_STEPS.indexOf(done) >= PROVISION_STEPS.indexOf(step);
}
