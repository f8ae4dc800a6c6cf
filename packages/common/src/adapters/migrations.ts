import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { SchemaError } from '../errors';
import { type MigrationPart, splitMigration } from './migration-parts';

/** Numbered SQL files shipped with this package: `NNN_description.sql`. */
export const MIGRATIONS_DIR = join(__dirname, '..', '..', 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
  sha256: string;
  /** Its transactional parts and online steps, in file order (docs/migrations.md). */
  parts: MigrationPart[];
}

const FILE_RE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;
/** Any constant: serialises concurrent `cmq migrate` runs. */
const LOCK_ID = 0x636d71;
/** How often a run waiting for another to finish tries the lock again. */
const LOCK_POLL_MS = 200;

/**
 * Earlier texts of a migration that count as applied, by version. A file may be rewritten only to
 * make the same schema another way; a database that applied the old text is then not refused.
 * Any other edit of an applied file still is.
 */
const SUPERSEDED: ReadonlyMap<number, readonly string[]> = new Map([
  // 017 as first shipped, in one transaction that locked action_events and actions for the
  // whole scan and index builds; rewritten to do that work online (decision 0025).
  [17, ['9a2344f2d3344367068f57ed40eadcb42f63b45203cf4c33cd5e4ff5dc558dc8']],
]);

export function listMigrations(dir: string = MIGRATIONS_DIR): Migration[] {
  return readdirSync(dir)
    .map((file) => ({ file, m: FILE_RE.exec(file) }))
    .filter((f): f is { file: string; m: RegExpExecArray } => f.m !== null)
    .map(({ file, m }) => {
      const sql = readFileSync(join(dir, file), 'utf8');
      return {
        version: Number(m[1]),
        name: m[2] as string,
        sql,
        sha256: createHash('sha256').update(sql).digest('hex'),
        parts: splitMigration(file, sql),
      };
    })
    .sort((a, b) => a.version - b.version);
}

/** The schema version this release needs: its highest migration. */
export function requiredSchemaVersion(dir: string = MIGRATIONS_DIR): number {
  return listMigrations(dir).at(-1)?.version ?? 0;
}

/** The database's schema version, or `undefined` when cmq's schema was never installed. */
export async function schemaVersion(pool: Pool): Promise<number | undefined> {
  const exists = await pool.query<{ t: string | null }>("SELECT to_regclass('cmq_schema_migrations')::text AS t");
  if (exists.rows[0]?.t == null) return undefined;
  const res = await pool.query<{ v: number | null }>('SELECT max(version) AS v FROM cmq_schema_migrations');
  return res.rows[0]?.v ?? undefined;
}

/**
 * Refuses a schema older than this release needs.
 * @throws SchemaError saying to run `cmq migrate`.
 */
export async function checkSchema(pool: Pool, database: string, dir: string = MIGRATIONS_DIR): Promise<number> {
  const required = requiredSchemaVersion(dir);
  const current = await schemaVersion(pool);
  if (current === undefined) {
    throw new SchemaError(
      `database "${database}" has no cmq schema (version ${required} required): run \`cmq migrate\``,
    );
  }
  if (current < required) {
    throw new SchemaError(
      `database "${database}" has schema version ${current}, older than version ${required} that this release needs: run \`cmq migrate\``,
    );
  }
  return current;
}

/** One part of a migration, done: what `migrate`'s `onStep` is told. */
export interface MigrationStep {
  version: number;
  name: string;
  kind: MigrationPart['kind'];
  /** The line of the file where the part starts. */
  line: number;
  ms: number;
}

export interface MigrateOptions {
  /** Called after each part of each migration applied (the benchmark times them). */
  onStep?: (step: MigrationStep) => void;
}

/**
 * Waits for the advisory lock by trying it again and again rather than by `pg_advisory_lock`: a
 * run blocked inside `pg_advisory_lock` holds a snapshot, and an online `CREATE INDEX
 * CONCURRENTLY` in the run holding the lock waits for every older snapshot to go. The two would
 * wait for each other until the deadlock detector killed one.
 */
async function lockRuns(client: PoolClient): Promise<void> {
  for (;;) {
    const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [LOCK_ID]);
    if (r.rows[0]?.ok === true) return;
    await delay(LOCK_POLL_MS);
  }
}

function isApplied(m: Migration, recorded: string): boolean {
  return recorded === m.sha256 || (SUPERSEDED.get(m.version)?.includes(recorded) ?? false);
}

async function record(client: PoolClient, m: Migration): Promise<void> {
  await client.query('INSERT INTO cmq_schema_migrations (version, name, sha256) VALUES ($1, $2, $3)', [
    m.version,
    m.name,
    m.sha256,
  ]);
}

async function runInTransaction(client: PoolClient, part: MigrationPart, recordAlso?: Migration): Promise<void> {
  try {
    await client.query('BEGIN');
    await client.query(part.sql);
    if (recordAlso) await record(client, recordAlso);
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * One online step, in autocommit and without a statement timeout: it holds no lock that stops
 * reads or writes, and a timeout would only throw away work that grows with the table. A
 * `CREATE INDEX CONCURRENTLY` that failed before leaves an invalid index of that name, which
 * `IF NOT EXISTS` would keep: it is dropped first.
 */
async function runOnline(client: PoolClient, part: MigrationPart): Promise<void> {
  await client.query('SET statement_timeout = 0');
  try {
    if (part.index !== undefined) {
      const leftover = await client.query(
        'SELECT 1 FROM pg_index WHERE indexrelid = to_regclass(quote_ident($1)) AND NOT indisvalid',
        [part.index],
      );
      if (leftover.rowCount !== 0)
        await client.query(`DROP INDEX CONCURRENTLY IF EXISTS "${part.index.replace(/"/g, '""')}"`);
    }
    // Extended protocol: PostgreSQL refuses a second statement in the step instead of running
    // them together as one implicit transaction. (`queryMode` is pg's; @types/pg lacks it.)
    const query: QueryConfig & { queryMode: 'extended' } = { text: part.sql, queryMode: 'extended' };
    await client.query(query);
  } finally {
    await client.query('RESET statement_timeout').catch(() => undefined);
  }
}

/**
 * Applies one migration part by part. Its version is recorded with its last part when that is
 * transactional, else on its own after it: only once every part has succeeded. Every part that
 * commits before that must be safe to run again after a failure.
 */
async function applyMigration(client: PoolClient, m: Migration, opts: MigrateOptions): Promise<void> {
  const last = m.parts.length - 1;
  for (const [i, part] of m.parts.entries()) {
    const started = performance.now();
    try {
      if (part.kind === 'online') await runOnline(client, part);
      else await runInTransaction(client, part, i === last ? m : undefined);
    } catch (err) {
      const where =
        m.parts.length > 1
          ? ` (${part.kind === 'online' ? 'online step' : 'transactional part'} at line ${part.line})`
          : '';
      throw new SchemaError(`migration ${m.version}_${m.name} failed${where}: ${(err as Error).message}`);
    }
    opts.onStep?.({
      version: m.version,
      name: m.name,
      kind: part.kind,
      line: part.line,
      ms: performance.now() - started,
    });
  }
  if (m.parts.at(-1)?.kind !== 'transaction') await record(client, m);
}

/**
 * Applies every migration not yet applied, in order, under an advisory lock (concurrent runs wait
 * for each other); refuses to go on if an applied file was edited since (SUPERSEDED lists the
 * rewrites that count as applied). Returns the versions applied.
 * @throws SchemaError naming the migration (and its part) that failed.
 */
export async function migrate(
  pool: Pool,
  dir: string = MIGRATIONS_DIR,
  opts: MigrateOptions = {},
): Promise<Migration[]> {
  const migrations = listMigrations(dir);
  const client = await pool.connect();
  const applied: Migration[] = [];
  // A checked-out client has no pool error listener: without this, a backend dying between
  // statements is an unhandled 'error' event; with it, the next statement fails instead.
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken ??= err;
  };
  client.on('error', onError);
  try {
    await lockRuns(client);
    await client.query(`CREATE TABLE IF NOT EXISTS cmq_schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map(
      (
        await client.query<{ version: number; sha256: string }>('SELECT version, sha256 FROM cmq_schema_migrations')
      ).rows.map((r) => [r.version, r.sha256]),
    );
    for (const m of migrations) {
      const sha = done.get(m.version);
      if (sha !== undefined) {
        if (!isApplied(m, sha))
          throw new SchemaError(
            `migration ${m.version}_${m.name} was changed after it was applied; restore the original file`,
          );
        continue;
      }
      await applyMigration(client, m, opts);
      applied.push(m);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    client.removeListener('error', onError);
    client.release(broken);
  }
  return applied;
}
