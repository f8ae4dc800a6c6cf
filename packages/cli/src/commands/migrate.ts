import { type DbConfig, createPool, databaseLabel, migrate, schemaVersion } from '@cmq/common';
import type { Command } from 'commander';
import pino from 'pino';
import { loadDbConfig } from '../cli-db';
import { CONFIG_DIR_HELP } from '../options';
import { type Env } from '../config-set';

/** Creates the database when it does not exist (connecting to the `postgres` database). */
async function createDatabase(db: DbConfig['db'], logger: pino.Logger): Promise<boolean> {
  const admin = createPool({ ...db, database: 'postgres', pool: { max: 1 } }, logger, 'cmq migrate');
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.database]);
    if (found.rowCount === 0) {
      await admin.query(`CREATE DATABASE "${db.database.replace(/"/g, '""')}"`);
      return true;
    }
    return false;
  } finally {
    await admin.end();
  }
}

export function registerMigrateCommand(program: Command, env: Env): void {
  program
    .command('migrate')
    .description('apply the database migrations this release needs (safe to run again, and from several hosts at once)')
    .option('--config-dir <dir>', CONFIG_DIR_HELP)
    .option('--create-database', 'create the database first if it does not exist')
    .action(async (opts: { configDir?: string; createDatabase?: boolean }) => {
      const db = loadDbConfig(opts.configDir, env);
      const logger = pino({ level: 'warn' }, pino.destination(2));
      if (opts.createDatabase && (await createDatabase(db, logger)))
        process.stdout.write(`created database ${db.database}\n`);
      const pool = createPool(db, logger, 'cmq migrate');
      try {
        const applied = await migrate(pool);
        for (const m of applied) process.stdout.write(`applied ${String(m.version).padStart(3, '0')}_${m.name}\n`);
        process.stdout.write(`${databaseLabel(db)} is at schema version ${(await schemaVersion(pool)) ?? 0}\n`);
      } finally {
        await pool.end();
      }
    });
}
