import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, createUniqueDatabase, databaseExists, dropDatabase, pgEnv, run, withDb } from '../helpers/scripts';
import { waitFor } from '../helpers/wait';

const BACKUP = join(REPO, 'scripts', 'backup.sh');
const RESTORE = join(REPO, 'scripts', 'restore.sh');
const NAME = /^cmq-backup-\d{8}T\d{6}Z$/;

/** A stand-in for an installed tree: a few files, a workspace symlink, a log to leave out. */
async function makeTree(root: string): Promise<{ prefix: string; config: string }> {
  const prefix = join(root, 'opt', 'cmq-workers');
  const config = join(root, 'etc', 'cmq-workers');
  await mkdir(join(prefix, 'bin'), { recursive: true });
  await mkdir(join(prefix, 'packages', 'common', 'dist'), { recursive: true });
  await mkdir(join(prefix, 'node_modules', '@cmq'), { recursive: true });
  await mkdir(config, { recursive: true });
  await writeFile(join(prefix, 'bin', 'cmq-publisher'), '#!/bin/sh\nexec node main.js "$@"\n');
  await chmod(join(prefix, 'bin', 'cmq-publisher'), 0o755);
  await writeFile(join(prefix, 'packages', 'common', 'dist', 'index.js'), 'module.exports = 1;\n');
  await symlink('../../packages/common', join(prefix, 'node_modules', '@cmq', 'common'));
  await writeFile(join(prefix, 'stray.log'), 'a log line\n');
  await writeFile(join(config, 'worker.properties'), 'db.database=original\n');
  return { prefix, config };
}

async function backups(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).sort() : [];
}

describe('scripts/backup.sh and scripts/restore.sh', () => {
  let root: string;
  let db: string;
  let env: NodeJS.ProcessEnv;
  let tree: { prefix: string; config: string };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'cmq-backup-test-'));
    tree = await makeTree(root);
    db = await createUniqueDatabase('cmq_backup');
    await withDb(db, async (c) => {
      await c.query('CREATE TABLE action (id int PRIMARY KEY, tenant text NOT NULL, state text NOT NULL)');
      await c.query("INSERT INTO action SELECT g, 'tenant-' || (g % 7), 'succeeded' FROM generate_series(1, 500) g");
    });
    // CMQ_DEFAULTS=/dev/null: a real /etc/default/cmq-workers on this machine must not count.
    env = { ...process.env, ...pgEnv(db), CMQ_DEFAULTS: '/dev/null' };
  });

  afterAll(async () => {
    await dropDatabase(db);
    await rm(root, { recursive: true, force: true });
  });

  const rows = (database: string): Promise<{ id: number; tenant: string; state: string }[]> =>
    withDb(
      database,
      async (c) =>
        (
          await c.query<{ id: number; tenant: string; state: string }>(
            'SELECT id, tenant, state FROM action ORDER BY id',
          )
        ).rows,
    );

  it('backs up, and after the database is dropped restores the same rows and the same tree', async () => {
    const target = join(root, 'backups-roundtrip');
    const before = await rows(db);

    const backup = await run(
      BACKUP,
      ['--target', target, '--keep', '3', '--prefix', tree.prefix, '--config-dir', tree.config],
      { env },
    );
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const made = await backups(target);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatch(NAME);
    const dir = join(target, made[0] as string);
    expect((await readdir(dir)).sort()).toEqual(['MANIFEST.sha256', 'db.dump', 'tree.tar.gz']);

    // Lose everything: the database, a binary, an edited config; leave a file that was not there.
    await dropDatabase(db);
    expect(await databaseExists(db)).toBe(false);
    await rm(join(tree.prefix, 'bin', 'cmq-publisher'));
    await writeFile(join(tree.config, 'worker.properties'), 'db.database=edited\n');
    await writeFile(join(tree.prefix, 'added-later.txt'), 'x');

    const restore = await run(RESTORE, [dir, '--prefix', tree.prefix, '--config-dir', tree.config], { env });
    expect(restore.code).toBe(0);
    expect(await rows(db)).toEqual(before);
    expect(before).toHaveLength(500);
    expect(await readFile(join(tree.prefix, 'bin', 'cmq-publisher'), 'utf8')).toContain('exec node');
    expect(await readFile(join(tree.config, 'worker.properties'), 'utf8')).toBe('db.database=original\n');
    expect(await readlink(join(tree.prefix, 'node_modules', '@cmq', 'common'))).toBe('../../packages/common');
    expect(existsSync(join(tree.prefix, 'added-later.txt'))).toBe(false);
    expect(existsSync(join(tree.prefix, 'stray.log'))).toBe(false); // logs are not backed up

    // Restoring over a database that exists works too: the restored copy takes its name, and the
    // database as it was is kept aside under NAME_pre_TIME.
    await withDb(db, (c) => c.query('DELETE FROM action WHERE id > 10'));
    const again = await run(RESTORE, [dir, '--no-tree'], { env });
    expect(again.code).toBe(0);
    expect(await rows(db)).toEqual(before);
    const kept = /kept as (\S+): drop it once the restore is checked/.exec(again.stdout)?.[1];
    expect(kept).toMatch(new RegExp(`^${db}_pre_\\d{8}_\\d{6}$`));
    expect(await rows(kept as string)).toHaveLength(10);
    expect(await databaseExists(`${db}_restoring`)).toBe(false);
    await dropDatabase(kept as string);
  });

  it('a restore that fails part-way (the dump names a role this cluster lacks) leaves the live database as it was', async () => {
    const role = `cmq_gone_${Date.now()}`;
    const target = join(root, 'backups-missing-role');
    await withDb(db, async (c) => {
      await c.query(`CREATE ROLE ${role}`);
      await c.query('CREATE TABLE owned_elsewhere (id int)');
      await c.query(`ALTER TABLE owned_elsewhere OWNER TO ${role}`);
    });
    expect(
      (await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], { env })).code,
    ).toBe(0);
    const dir = join(target, (await backups(target))[0] as string);
    await withDb(db, async (c) => {
      await c.query('DROP TABLE owned_elsewhere');
      await c.query(`DROP ROLE ${role}`);
      await c.query("INSERT INTO action VALUES (150000, 'added-after-backup', 'pending')");
    });
    const before = await rows(db);
    const r = await run(RESTORE, [dir, '--no-tree'], { env });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`role "${role}" does not exist`);
    expect(r.stderr).toContain(`failed; ${db} is back as it was`);
    expect(r.stdout).toMatch(new RegExp(`set ${db} aside as ${db}_pre_`));
    expect(await rows(db)).toEqual(before);
    expect(await databaseExists(`${db}_restoring`)).toBe(false);
  });

  it('refuses a database name too long to set a copy aside beside it (PostgreSQL cuts names to 63 bytes), changing nothing', async () => {
    const long = await createUniqueDatabase(`cmq_backup_${'x'.repeat(30)}`); // 50 bytes
    try {
      const longEnv = { ...env, ...pgEnv(long) };
      const target = join(root, 'backups-long-name');
      expect(
        (
          await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], {
            env: longEnv,
          })
        ).code,
      ).toBe(0);
      const r = await run(RESTORE, [join(target, (await backups(target))[0] as string), '--no-tree'], { env: longEnv });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain(
        `the database name ${long} is too long to set a copy aside beside it (at most 43 bytes)`,
      );
      expect(await databaseExists(long)).toBe(true);
    } finally {
      await dropDatabase(long);
    }
  });

  it('refuses to restore a backup whose checksums do not match', async () => {
    const target = join(root, 'backups-damaged');
    const backup = await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], {
      env,
    });
    expect(backup.code).toBe(0);
    const dir = join(target, (await backups(target))[0] as string);
    const dump = await readFile(join(dir, 'db.dump'));
    dump.writeUInt8((dump.readUInt8(dump.length - 1) ^ 0xff) & 0xff, dump.length - 1);
    await writeFile(join(dir, 'db.dump'), dump);
    await withDb(db, (c) => c.query("INSERT INTO action VALUES (100000, 'marker', 'pending')"));

    const restore = await run(RESTORE, [dir, '--no-tree'], { env });
    expect(restore.code).not.toBe(0);
    expect(restore.stderr).toMatch(/checksums do not match/);
    // Nothing was touched.
    const marker = await withDb(db, (c) => c.query('SELECT 1 FROM action WHERE id = 100000'));
    expect(marker.rowCount).toBe(1);
  });

  it('refuses to restore over a database something is connected to, changing nothing', async () => {
    const target = join(root, 'backups-busy');
    expect(
      (await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], { env })).code,
    ).toBe(0);
    const dir = join(target, (await backups(target))[0] as string);
    const before = await rows(db);
    await withDb(db, async (c) => {
      await c.query("INSERT INTO action VALUES (200000, 'added-after-backup', 'pending')");
      const r = await run(RESTORE, [dir, '--no-tree'], { env });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/being accessed by other users/);
      expect(r.stderr).toMatch(/are the services stopped/);
    });
    // Neither dropped nor restored over (no duplicate rows, the new row still there).
    const after = await rows(db);
    expect(after).toHaveLength(before.length + 1);
    expect(after.at(-1)).toEqual({ id: 200000, tenant: 'added-after-backup', state: 'pending' });
  });

  it('fails without leaving any archive behind when pg_dump fails', async () => {
    const target = join(root, 'backups-failing');
    const missing = `${db}_missing`;
    const r = await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], {
      env: { ...env, PGDATABASE: missing },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/pg_dump/);
    expect(r.stderr).toContain(missing);
    expect(await backups(target)).toEqual([]); // neither cmq-backup-* nor .cmq-backup-*.partial
  });

  it('fails when the tree to archive is missing, before dumping anything', async () => {
    const target = join(root, 'backups-no-tree');
    const r = await run(BACKUP, ['--target', target, '--prefix', join(root, 'nowhere'), '--config-dir', tree.config], {
      env,
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no installed tree/);
    expect(await backups(target)).toEqual([]);
  });

  it('one backup at a time per target; the leftover of a killed backup is removed by the next', async () => {
    const target = join(root, 'backups-lock');
    const leftover = join(target, '.cmq-backup-20200101T000000Z.partial');
    await mkdir(leftover, { recursive: true });
    await writeFile(join(leftover, 'db.dump'), 'half a dump');
    // Another run holds the lock on the target directory (flock(1) takes the same kind of lock).
    const holder = spawn('flock', ['-o', target, 'sleep', '30'], { stdio: 'ignore', detached: true });
    try {
      await waitFor(async () => (await run('flock', ['-n', target, 'true'])).code !== 0, 5_000, 'the lock to be held');
      const busy = await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], {
        env,
      });
      expect(busy.code).not.toBe(0);
      expect(busy.stderr).toContain(`another backup.sh is writing to ${target}`);
      expect(existsSync(leftover)).toBe(true); // not touched while the other run may be writing it
    } finally {
      process.kill(-(holder.pid as number), 'SIGKILL'); // flock and its sleep
    }
    await waitFor(async () => (await run('flock', ['-n', target, 'true'])).code === 0, 5_000, 'the lock to be free');
    const r = await run(BACKUP, ['--target', target, '--prefix', tree.prefix, '--config-dir', tree.config], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`removed ${leftover}, left by a backup that did not finish`);
    expect(existsSync(leftover)).toBe(false);
    expect(await backups(target)).toHaveLength(1);
  });

  it('warns when the encryption keys file is outside the config dir (and so not in the backup)', async () => {
    const other = await makeTree(join(root, 'keys-elsewhere'));
    await writeFile(join(other.config, 'km-client.cfg'), 'km.keys_file=/srv/cmq-keys/km.keys\nkm.active_key_id=k1\n');
    const outside = await run(
      BACKUP,
      ['--target', join(root, 'backups-keys-outside'), '--prefix', other.prefix, '--config-dir', other.config],
      { env },
    );
    expect(outside.code).toBe(0);
    expect(outside.stderr).toContain(
      `backup.sh: warning: km.keys_file /srv/cmq-keys/km.keys is outside ${other.config} and not in this backup`,
    );
    // The properties syntax `key value`, and a link in the config dir to a file elsewhere (tar keeps only the link).
    await writeFile(join(other.config, 'km-client.cfg'), 'km.keys_file /srv/cmq-keys/km.keys\n');
    expect(
      (
        await run(
          BACKUP,
          ['--target', join(root, 'backups-keys-space'), '--prefix', other.prefix, '--config-dir', other.config],
          { env },
        )
      ).stderr,
    ).toContain('km.keys_file /srv/cmq-keys/km.keys is outside');
    await mkdir(join(root, 'keys-elsewhere', 'vault'), { recursive: true });
    await writeFile(join(root, 'keys-elsewhere', 'vault', 'km.keys'), 'k1=x\n');
    await symlink(join(root, 'keys-elsewhere', 'vault', 'km.keys'), join(other.config, 'linked.keys'));
    await writeFile(join(other.config, 'km-client.cfg'), `km.keys_file=${other.config}/linked.keys\n`);
    expect(
      (
        await run(
          BACKUP,
          ['--target', join(root, 'backups-keys-link'), '--prefix', other.prefix, '--config-dir', other.config],
          { env },
        )
      ).stderr,
    ).toContain(`km.keys_file ${other.config}/linked.keys is outside`);
    await writeFile(
      join(other.config, 'km-client.cfg'),
      `km.keys_file = ${other.config}/km.keys\nkm.active_key_id=k1\n`,
    );
    const inside = await run(
      BACKUP,
      ['--target', join(root, 'backups-keys-inside'), '--prefix', other.prefix, '--config-dir', `${other.config}/`],
      { env },
    );
    expect(inside.code).toBe(0);
    expect(inside.stderr).toBe('');
  });

  it('without PG* variables both scripts ask `cmq config pg-env` for the password explicitly (--with-password)', async () => {
    const stub = await makeTree(join(root, 'stub'));
    const argsFile = join(root, 'stub', 'cmq-args');
    // A stand-in for the installed cmq: records its arguments, prints PGPASSWORD only when asked.
    await writeFile(
      join(stub.prefix, 'bin', 'cmq'),
      [
        '#!/bin/sh',
        `printf '%s\\n' "$*" >> '${argsFile}'`,
        `echo "export PGHOST='127.0.0.1' PGPORT='5432' PGUSER='postgres' PGDATABASE='${db}'"`,
        `case " $* " in *" --with-password "*) echo "export PGPASSWORD='stub-password'" ;; esac`,
        '',
      ].join('\n'),
    );
    await chmod(join(stub.prefix, 'bin', 'cmq'), 0o755);
    const noPg: NodeJS.ProcessEnv = { ...env };
    for (const key of Object.keys(noPg)) if (key.startsWith('PG')) delete noPg[key];
    const target = join(root, 'backups-pg-env');
    const backup = await run(BACKUP, ['--target', target, '--prefix', stub.prefix, '--config-dir', stub.config], {
      env: noPg,
    });
    expect(backup.stderr).toBe('');
    expect(backup.code).toBe(0);
    const made = join(target, (await backups(target))[0] as string);
    const restore = await run(RESTORE, [made, '--no-tree', '--prefix', stub.prefix, '--config-dir', stub.config], {
      env: noPg,
    });
    expect(restore.code).toBe(0);
    expect((await readFile(argsFile, 'utf8')).trim().split('\n')).toEqual([
      `config pg-env --with-password --config-dir ${stub.config}`,
      `config pg-env --with-password --config-dir ${stub.config}`,
    ]);
    const kept = /kept as (\S+): drop it once the restore is checked/.exec(restore.stdout)?.[1];
    if (kept !== undefined) await dropDatabase(kept);
  });

  it('keeps only the newest N complete backups; a copy renamed by hand is neither counted nor removed', async () => {
    const target = join(root, 'backups-retention');
    // It sorts after every timestamp: counted as the newest, it stopped every later backup.
    await mkdir(join(target, 'cmq-backup-keep'), { recursive: true });
    const written: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await run(
        BACKUP,
        ['--target', target, '--keep', '2', '--prefix', tree.prefix, '--config-dir', tree.config],
        { env },
      );
      expect(r.code).toBe(0);
      const m = /wrote (\S+)/.exec(r.stdout);
      expect(m).not.toBeNull();
      written.push((m as RegExpExecArray)[1] as string);
    }
    const kept = (await backups(target)).filter((k) => k !== 'cmq-backup-keep');
    expect(kept).toHaveLength(2);
    expect(kept.map((k) => join(target, k))).toEqual(written.slice(1));
    expect(existsSync(join(target, 'cmq-backup-keep'))).toBe(true);
  });
});
