/** What a database query returns: the rows and how many the statement touched. */
export interface SqlResult<R> {
  rows: R[];
  rowCount: number | null;
}

/**
 * A statement prepared once per connection under `name` (PostgreSQL parses it once; it is still
 * planned at every execution: connections set plan_cache_mode=force_custom_plan, see
 * connectionConfig): for the statements run for every batch of actions, whose parsing costs as
 * much as executing them. A name stands for one text only.
 */
export interface PreparedQuery {
  name: string;
  text: string;
  values: unknown[];
}

/**
 * The one thing code outside the adapters needs from PostgreSQL: run a parameterised
 * statement. A pg Pool, a transaction's client and a session all satisfy it.
 */
export interface Sql {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors pg's QueryResultRow, whose values are any
  query<R extends { [column: string]: any } = Record<string, unknown>>(
    text: string,
    values?: unknown[],
  ): Promise<SqlResult<R>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- as above
  query<R extends { [column: string]: any } = Record<string, unknown>>(prepared: PreparedQuery): Promise<SqlResult<R>>;
}

/** Runs `fn` inside one transaction (committed when it resolves, rolled back when it throws). */
export type Transactor = <T>(fn: (sql: Sql) => Promise<T>) => Promise<T>;
