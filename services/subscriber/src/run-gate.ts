import {
  type ActionType,
  type ArgsOf,
  type ClaimedAction,
  type Mode,
  checkArgs,
  expiryError,
  modeRefusal,
  tenantDisabled,
} from '@cmq/actions';

/** What the gate reads of a claimed action. */
export type GatedAction = Pick<
  ClaimedAction,
  'tenant_id' | 'type' | 'args' | 'attempts' | 'max_attempts' | 'expires_at' | 'tenant_enabled'
>;

/** Either the action runs, with its arguments parsed by its type's schema, or it ends now in `state`. */
export type GateDecision =
  | { run: true; type: ActionType; args: ArgsOf<ActionType> }
  | { run: false; state: 'expired' | 'rejected' | 'dead'; error: string };

/**
 * May a claimed action run now? Checked in this order, the first that holds deciding: it expired
 * while it waited (`expired`); its tenant is disabled, or the mode refuses its type (`rejected`:
 * both may have changed since intake); its attempt is over `max_attempts`, which only happens
 * when earlier attempts never finished because their worker died (`dead`); its type is unknown or
 * its arguments fail the type's schema (`dead`). Pure: `now` is the clock.
 */
export function gate(action: GatedAction, mode: Mode, now: Date = new Date()): GateDecision {
  const expired = expiryError(action.expires_at, now);
  if (expired !== undefined) return { run: false, state: 'expired', error: expired };
  const refusal = action.tenant_enabled ? modeRefusal(mode, action.type) : tenantDisabled(action.tenant_id);
  if (refusal !== undefined) return { run: false, state: 'rejected', error: refusal };
  if (action.attempts > action.max_attempts)
    return {
      run: false,
      state: 'dead',
      error: `attempt ${action.attempts} is over max_attempts ${action.max_attempts}: earlier attempts never finished (their worker died)`,
    };
  const checked = checkArgs(action.type, action.args);
  if (!checked.ok) return { run: false, state: 'dead', error: checked.error };
  return { run: true, type: checked.type, args: checked.args };
}
