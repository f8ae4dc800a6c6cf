import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { Client } from 'pg';

/** The repository root. */
export const REPO = join(__dirname, '..', '..');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; never rejects on a non-zero exit (the caller asserts it). */
export function run(
  file: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        env: opts.env ?? process.env,
        cwd: opts.cwd ?? REPO,
        timeout: opts.timeoutMs ?? 120_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== 'number') {
          reject(new Error(`${file} ${args.join(' ')} did not run to completion: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** Connection settings of the local PostgreSQL server (trust auth on 127.0.0.1). */
export const PG = { host: '127.0.0.1', port: 5432, user: 'postgres' } as const;

/** PG* variables for pg_dump / psql / the backup scripts. */
export function pgEnv(database: string): NodeJS.ProcessEnv {
  return { PGHOST: PG.host, PGPORT: String(PG.port), PGUSER: PG.user, PGDATABASE: database };
}

/** Runs `fn` with a client connected to `database`. */
export async function withDb<T>(database: string, fn: (c: Client) => Promise<T>): Promise<T> {
  const client = new Client({ ...PG, database });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Creates an empty database with a unique name and returns the name. */
export async function createUniqueDatabase(prefix: string): Promise<string> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await withDb('postgres', (c) => c.query(`CREATE DATABASE ${name}`));
  return name;
}

/** Drops a database even while something is connected to it. */
export async function dropDatabase(name: string): Promise<void> {
  await withDb('postgres', (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

export async function databaseExists(name: string): Promise<boolean> {
  const r = await withDb('postgres', (c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]));
  return r.rowCount === 1;
}
