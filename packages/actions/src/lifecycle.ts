import { ACTION_STATES, type ActionState, FINAL_STATES } from '@cmq/common';

/**
 * The action lifecycle: which state an action may move to from which, and who may move it. The
 * state names live in `@cmq/common` (ACTION_STATES, FINAL_STATES); this table is the only place
 * that says how they connect. Every statement that changes `actions.state` declares the
 * transitions it makes in a `-- transition <actor>: <from> -> <to>` comment beside its
 * `UPDATE actions` (tests/unit/lifecycle-statements.test.ts checks each against this table and
 * against the states its SQL names); `transition()` checks its arguments here at run time.
 * docs/lifecycle.md draws it.
 */

/** Who moves an action: each kind of writer of `actions.state`. */
export const ACTORS = [
  'intake',
  'relay',
  'claim',
  'commit',
  'refuse',
  'recovery',
  'expiry',
  'cancel',
  'replay',
] as const;
export type Actor = (typeof ACTORS)[number];

/** What each actor is, in one line (the legend of docs/lifecycle.md). */
export const ACTOR_ROLES: Readonly<Record<Actor, string>> = {
  intake: 'a requester inserts the row (`cmq call`, the schedulers, the pinger’s canaries)',
  relay: 'the publisher’s relay, once the broker confirmed the message',
  claim: 'a subscriber claims a delivery it is about to run',
  commit: 'a subscriber commits the outcome of a run it claimed (fenced on worker and attempt)',
  refuse: 'a subscriber ends an action whose delivery it cannot read (over max_body_bytes)',
  recovery: 'the recovery component gives back the work of a dead or frozen worker',
  expiry: 'the relay’s expiry sweep ends an action whose expires_at passed before it ran',
  cancel: 'an operator (`cmq cancel`) or the pinger (a lost canary) cancels an action not yet running',
  replay: 'an operator (`cmq dead replay`) puts a dead action back with fresh attempts',
};

/** The outcomes a subscriber commits for a run (`queued`: handed back unfinished while draining). */
export const RUN_OUTCOMES = [
  'succeeded',
  'failed',
  'retrying',
  'dead',
  'expired',
  'rejected',
  'queued',
] as const satisfies readonly ActionState[];
export type RunOutcome = (typeof RUN_OUTCOMES)[number];

/** One allowed move: from any of `from` (null: the row did not exist) to any of `to`, by `actor`. */
export interface TransitionRule {
  actor: Actor;
  from: readonly (ActionState | null)[];
  to: readonly ActionState[];
  /** When and why, in a sentence. */
  why: string;
}

/** States an action waits in for the relay or a subscriber: not running, not final. */
const WAITING = ['pending', 'queued', 'retrying'] as const satisfies readonly ActionState[];

/** Every allowed transition. Anything not listed here is a bug in the statement that makes it. */
export const TRANSITIONS: readonly TransitionRule[] = [
  { actor: 'intake', from: [null], to: ['pending'], why: 'a new action' },
  { actor: 'relay', from: ['pending', 'retrying'], to: ['queued'], why: 'published and confirmed by the broker' },
  { actor: 'claim', from: WAITING, to: ['running'], why: 'a subscriber starts a run (one more attempt)' },
  {
    actor: 'claim',
    from: ['running'],
    to: ['running'],
    why: 'takeover, the fast path of recovery: the worker that ran it lost its lock (it died) and its message came back',
  },
  { actor: 'commit', from: ['running'], to: RUN_OUTCOMES, why: 'the outcome of a run' },
  {
    actor: 'commit',
    from: WAITING,
    to: ['pending'],
    why: 'an outcome for a row that is not running: its claim was lost to a database restart, so back to the relay',
  },
  { actor: 'refuse', from: WAITING, to: ['dead'], why: 'its delivery cannot be read, so it can never run' },
  {
    actor: 'recovery',
    from: ['running'],
    to: ['pending'],
    why: 'its worker is dead (lock gone) or frozen (heartbeat gone)',
  },
  { actor: 'expiry', from: ['pending', 'retrying'], to: ['expired'], why: 'expires_at passed before it could run' },
  { actor: 'cancel', from: WAITING, to: ['cancelled'], why: 'cancelled before it started running' },
  { actor: 'replay', from: ['dead'], to: ['pending'], why: 'replayed, with its attempts reset' },
];

/**
 * The states in which retention may remove an action (with its events): the final ones only.
 * Every `DELETE FROM actions` in the code names these states, and only these, in its WHERE
 * (tests/unit/lifecycle-statements.test.ts checks it): an action that is not final is never
 * removed, whatever its age.
 */
export const REMOVABLE_STATES: readonly ActionState[] = FINAL_STATES;

/** Whether `actor` (any actor when omitted) may move an action from `from` to `to`. */
export function isAllowed(from: ActionState | null, to: ActionState, actor?: Actor): boolean {
  return TRANSITIONS.some(
    (r) => (actor === undefined || r.actor === actor) && r.from.includes(from) && r.to.includes(to),
  );
}

/** The actors that may make the move (empty: nobody may). */
export function actorsOf(from: ActionState | null, to: ActionState): Actor[] {
  return ACTORS.filter((a) => isAllowed(from, to, a));
}

/** Whether `name` is one of ACTION_STATES. */
export function isActionState(name: string): name is ActionState {
  return (ACTION_STATES as readonly string[]).includes(name);
}

/** Whether a state is final: only an operator's replay (of `dead`) moves an action out of it. */
export function isFinalState(state: ActionState): boolean {
  return FINAL_STATES.includes(state);
}

/**
 * Checks that each move from one of `from` to `to` is one some actor in `actors` may make.
 * @throws Error naming the first move that is not: a statement asked for a transition the
 * lifecycle does not have (a programming error, not an operational one).
 */
export function checkTransitions(from: readonly string[], to: string, actors: readonly Actor[]): void {
  for (const f of from) {
    if (!isActionState(f) || !isActionState(to) || !actors.some((a) => isAllowed(f, to, a)))
      throw new Error(`the action lifecycle has no transition ${f} -> ${to} for ${actors.join(' or ')}`);
  }
}
