import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Pool } from 'pg';
import { SchemaError } from '../errors';

/** Numbered SQL files shipped with this package: `NNN_description.sql`. */
export const MIGRATIONS_DIR = join(__dirname, '..', '..', 'migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
  sha256: string;
}

const FILE_RE = /^(\d{3,})_([a-z0-9_]+)\.sql$/;
/** Any constant: serialises concurrent `cmq migrate` runs. */
const LOCK_ID = 0x636d71;

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

/**
 * Applies every migration not yet applied, each in its own transaction, under an advisory
 * lock; refuses to go on if an applied file was edited since. Returns the versions applied.
 */
export async function migrate(pool: Pool, dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
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
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID]);
    await client.query(`CREATE TABLE IF NOT EXISTS cmq_schema_migrations (
      version int PRIMARY KEY, name text NOT NULL, sha256 text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const done = new Map(
      (
        await client.query<{ version: number; sha256: string }>('SELECT version, sha256 FROM cmq_schema_migrations')
      ).rows.map((r) => [r.version, r.sha256]),
    );
    for (const m of listMigrations(dir)) {
      const sha = done.get(m.version);
      if (sha !== undefined) {
        if (sha !== m.sha256)
          throw new SchemaError(
            `migration ${m.version}_${m.name} was changed after it was applied; restore the original file`,
          );
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(m.sql);
        await client.query('INSERT INTO cmq_schema_migrations (version, name, sha256) VALUES ($1, $2, $3)', [
          m.version,
          m.name,
          m.sha256,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK');
        throw new SchemaError(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`);
      }
      applied.push(m);
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined);
    client.removeListener('error', onError);
    client.release(broken);
  }
  return applied;
}
