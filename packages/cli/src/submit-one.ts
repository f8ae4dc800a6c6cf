import { type ActionRequest, IntakeError, insertActions } from '@cmq/actions';
import type { Keyring, ProvisioningConfig } from '@cmq/common';
import { type CliDb, cliActor } from './cli-db';
import { refused } from './command-error';
import type { Env } from './config-set';
import { reportOutcome, waitForFinal } from './wait-final';

/**
 * Inserts one validated request (refused at intake → exit 2 with the reason), prints its id,
 * and with `waitMs` waits for its final state and reports it (exit 0 only for succeeded).
 */
export async function submitOne(
  db: CliDb,
  request: ActionRequest,
  env: Env,
  mode: ProvisioningConfig['mode'],
  waitMs: number | undefined,
  keyring: () => Keyring | undefined,
): Promise<void> {
  const id = await insertOne(db, request, cliActor(env), mode, keyring);
  process.stdout.write(`${id}\n`);
  if (waitMs !== undefined) reportOutcome(await waitForFinal(db.sql, id, waitMs));
}

/**
 * Inserts one validated request as `actor` (`cmq call`, `cmq shell`) and returns its id.
 * @throws CommandFailed (exit 2) with intake's reason when intake refuses it.
 */
export async function insertOne(
  db: CliDb,
  request: ActionRequest,
  actor: string,
  mode: ProvisioningConfig['mode'],
  keyring: () => Keyring | undefined,
): Promise<string> {
  try {
    const [id = ''] = await insertActions(db.transaction, [request], actor, { mode, keyring });
    return id;
  } catch (err) {
    if (err instanceof IntakeError) throw refused(err.message);
    throw err;
  }
}
