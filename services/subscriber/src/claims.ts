import {
  type ClaimedAction,
  type Outcome,
  UnstorableOutcomeError,
  actionStates,
  claimActions,
  type TakenAway,
  commitOutcomes,
  takenAway,
} from '@cmq/actions';
import { type Database, type Logger, errorText, isDataRefusal } from '@cmq/common';
import { Batcher } from './batcher';

/** What claiming one delivered action id came to. */
export type Claim = { kind: 'claimed'; action: ClaimedAction } | { kind: 'skip'; state: string } | { kind: 'missing' };

/** Who claims and commits: the worker's registered id (known once it started) and its name. */
export interface Claimant {
  workerId(): string;
  readonly worker: string;
}

/**
 * A subscriber's two database steps per delivery, each batched: claims, and outcome commits. A
 * batch PostgreSQL refuses for its data is retried item by item, so one bad item fails alone; an
 * outcome that cannot be written as JSON is replaced in its batch (see commitBatch).
 */
export class ClaimBatches {
  private readonly claims: Batcher<string, Claim>;
  /** Resolves to the outcome committed (see commitBatch), or null when the fence refused it. */
  private readonly commits: Batcher<Outcome, Outcome | null>;

  constructor(
    private readonly database: Database,
    private readonly logger: Logger,
    private readonly claimant: Claimant,
  ) {
    this.claims = new Batcher((ids) => this.claimBatch(ids), 500, 1, isDataRefusal);
    this.commits = new Batcher((outcomes) => this.commitBatch(outcomes), 500, 1, isDataRefusal);
  }

  claim(id: string): Promise<Claim> {
    return this.claims.add(id);
  }

  commit(outcome: Outcome): Promise<Outcome | null> {
    return this.commits.add(outcome);
  }

  private async claimBatch(ids: string[]): Promise<Claim[]> {
    const claimed = await claimActions(this.database.sql, ids, this.claimant.workerId(), this.claimant.worker);
    const byId = new Map(claimed.map((c) => [c.id, c]));
    const others = ids.filter((id) => !byId.has(id));
    const states = others.length > 0 ? await actionStates(this.database.sql, others) : new Map<string, string>();
    return ids.map((id) => {
      const action = byId.get(id);
      if (action !== undefined) {
        byId.delete(id); // a second delivery of the same id in this batch must not run it again
        return { kind: 'claimed', action };
      }
      const state = states.get(id);
      if (state !== undefined) return { kind: 'skip', state };
      return claimed.some((c) => c.id === id) ? { kind: 'skip', state: 'running' } : { kind: 'missing' };
    });
  }

  /**
   * Logs each outcome not committed. One whose action was taken away (a recovery or takeover
   * event by another) is a warning with that event's reason, so that the operator sees both
   * sides: the reaper's event and this worker's late result. Otherwise one the commit sent back
   * to the relay lost its claim to a database restart (info), and one merely refused is a debug
   * line (a commit retried after its reply was lost finds its row already final). Never throws:
   * the lookup failing leaves the reason unknown.
   */
  private async logUncommitted(outcomes: readonly Outcome[], requeued: ReadonlySet<string>): Promise<void> {
    let why = new Map<string, TakenAway>();
    try {
      const rows = await takenAway(
        this.database.sql,
        outcomes.map((o) => o.id),
        this.claimant.worker,
      );
      why = new Map(rows.map((r) => [r.id, r]));
    } catch (err) {
      this.logger.debug({ err: errorText(err) }, 'cannot read why uncommitted outcomes were taken away');
    }
    for (const o of outcomes) {
      const now = why.get(o.id);
      const fields = { action: o.id, attempt: o.attempt, outcome: o.state };
      const discarded = `its ${o.state} outcome is discarded`;
      if (now?.reason != null) {
        this.logger.warn(
          { ...fields, state: now.state, running_on: now.worker, taken_by: now.by, reason: now.reason },
          `late commit refused by the fence: action ${o.id} attempt ${o.attempt} was taken away from this worker` +
            ` (${now.reason}); ${discarded}`,
        );
      } else if (requeued.has(o.id)) {
        this.logger.info(
          fields,
          `claim lost, sent back to the relay: action ${o.id} attempt ${o.attempt} will run again; ${discarded}`,
        );
      } else {
        this.logger.debug(
          { ...fields, state: now?.state ?? null },
          `commit refused by the fence: action ${o.id} attempt ${o.attempt} no longer runs on this worker` +
            ` and no recovery event took it; ${discarded}`,
        );
      }
    }
  }

  /**
   * Commits a batch; per outcome, the outcome committed or null (fenced out). An outcome that
   * could never be stored ends its action `dead` with the reason instead, so that it reaches a
   * final state and is not retried forever: one whose result cannot be written as JSON (known
   * before anything is sent: replaced where it stands, the rest of the batch committed with it),
   * or one PostgreSQL refuses for its data even alone (the batcher retries a refused batch item
   * by item).
   */
  private async commitBatch(outcomes: Outcome[]): Promise<Array<Outcome | null>> {
    let committed = outcomes;
    const replaced = new Set<string>(); // a replacement refused in turn is not replaced again
    for (;;) {
      try {
        const { done, requeued } = await commitOutcomes(
          this.database,
          committed,
          this.claimant.workerId(),
          this.claimant.worker,
        );
        const uncommitted = committed.filter((o) => !done.has(o.id));
        if (uncommitted.length > 0) void this.logUncommitted(uncommitted, requeued);
        return committed.map((o) => (done.has(o.id) ? o : null));
      } catch (err) {
        const at =
          err instanceof UnstorableOutcomeError
            ? committed.findIndex((o) => o.id === err.id)
            : committed.length === 1 && isDataRefusal(err)
              ? 0
              : -1;
        const bad = committed[at];
        if (bad === undefined || replaced.has(bad.id)) throw err;
        replaced.add(bad.id);
        const why = isDataRefusal(err)
          ? `PostgreSQL refused it: ${errorText(err)}`
          : `its result cannot be written as JSON: ${errorText((err as UnstorableOutcomeError).cause)}`;
        this.logger.error(
          { action: bad.id, state: bad.state, err: why },
          'outcome could not be stored; the action ends dead',
        );
        committed = committed.map((o, i) =>
          i === at
            ? {
                id: bad.id,
                attempt: bad.attempt,
                state: 'dead',
                error: `its outcome (${bad.state}) could not be stored, ${why}`,
              }
            : o,
        );
      }
    }
  }
}
