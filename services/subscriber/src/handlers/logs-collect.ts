import { mkdir, open, stat, truncate } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type LogOffset, getLogOffset, saveLogOffset } from '@cmq/actions';
import { CmqError } from '@cmq/common';
import type { Handler, HandlerContext } from './handler';
import { runOnGuest, sshServices } from './ssh-run';
import { testPause } from './test-pause';

/** Bytes read per SSH command (base64 on the wire: 4/3 of it must fit ssh.output_cap). */
const CHUNK = 512 * 1024;
const MAX_CHUNKS = 64;

interface FileReport {
  path: string;
  bytes: number;
  rotated: boolean;
  truncated: boolean;
  missing: boolean;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Remote inode and size of `path`, or undefined when it does not exist. */
async function remoteStat(
  ctx: HandlerContext,
  guest: string,
  path: string,
): Promise<{ inode: string; size: number } | undefined> {
  const res = await runOnGuest(ctx, guest, `stat -L -c '%i %s' -- ${quote(path)}`);
  const m = /^(\d+) (\d+)\s*$/.exec(res.stdout);
  if (res.code !== 0 || m === null) return undefined;
  return { inode: m[1] ?? '', size: Number(m[2]) };
}

/**
 * Up to `n` bytes of `path` from `start`, read through one open descriptor so the inode checked
 * is the one read; undefined when the file is gone or is no longer `inode` (rotated meanwhile).
 */
async function remoteRead(
  ctx: HandlerContext,
  guest: string,
  path: string,
  inode: string,
  start: number,
  n: number,
): Promise<Buffer | undefined> {
  const script = `exec 3< ${quote(path)} || exit 66; stat -L -c '%i' /dev/fd/3 || exit 67; tail -c +${start + 1} <&3 | head -c ${n} | base64 -w0`;
  const res = await runOnGuest(ctx, guest, script);
  if (res.truncated)
    throw new CmqError(
      'CMQ_ERR_LOGS_CAP',
      `a ${CHUNK}-byte log chunk went over ssh.output_cap once base64-encoded: raise ssh.output_cap in provisioning.cfg`,
    );
  const [seen = '', data = ''] = res.stdout.split('\n');
  if (res.code !== 0 || seen.trim() !== inode) return undefined;
  return Buffer.from(data.trim(), 'base64');
}

/** Appends and fsyncs; returns the local size after. */
async function appendDurably(local: string, bytes: Buffer): Promise<number> {
  const fh = await open(local, 'a');
  try {
    await fh.write(bytes);
    await fh.sync();
    return (await fh.stat()).size;
  } finally {
    await fh.close();
  }
}

/** Size of the local copy, cut back to the last commit (bytes of a run that died before committing). */
async function restoreLocal(local: string, committed: number | undefined): Promise<number> {
  await mkdir(dirname(local), { recursive: true });
  const size = await stat(local).then(
    (s) => s.size,
    () => -1,
  );
  if (size < 0) {
    await (await open(local, 'a')).close();
    return 0;
  }
  if (committed !== undefined && size > committed) {
    await truncate(local, committed);
    return committed;
  }
  return size;
}

/** TEST HOOK (see testPause): pauses each offset commit after an append, between the local append and the commit. */
export const TEST_PAUSE_ENV = 'CMQ_TEST_PAUSE_BEFORE_OFFSET_COMMIT_FILE';

class FileCollector {
  constructor(
    private readonly ctx: HandlerContext,
    private readonly guest: string,
    private readonly path: string,
    private readonly local: string,
    private pos: LogOffset,
  ) {}

  /** Copies `[pos.offset, size)` of `remote` (which must still be `inode`), committing after each chunk. */
  async copy(remote: string, inode: string, size: number): Promise<number> {
    let copied = 0;
    for (let i = 0; i < MAX_CHUNKS && this.pos.offset < size; i++) {
      const bytes = await remoteRead(
        this.ctx,
        this.guest,
        remote,
        inode,
        this.pos.offset,
        Math.min(CHUNK, size - this.pos.offset),
      );
      if (bytes === undefined || bytes.length === 0) break;
      const localSize = await appendDurably(this.local, bytes);
      this.pos = { inode, offset: this.pos.offset + bytes.length, localSize };
      await testPause(
        this.ctx,
        TEST_PAUSE_ENV,
        'TEST HOOK: pausing before the log offset commit (never set this variable in production)',
      );
      await saveLogOffset(sshServices(this.ctx).sql, this.ctx.tenant, this.guest, this.path, this.pos);
      copied += bytes.length;
    }
    return copied;
  }

  /** Starts `inode` from 0 (a new file after rotation, or the same one truncated). */
  async restart(inode: string): Promise<void> {
    this.pos = { inode, offset: 0, localSize: this.pos.localSize };
    await saveLogOffset(sshServices(this.ctx).sql, this.ctx.tenant, this.guest, this.path, this.pos);
  }

  get position(): LogOffset {
    return this.pos;
  }
}

/** The rotated name of `inode` in the directory of `path` (logrotate's rename), if it is still there. */
async function findRotated(
  ctx: HandlerContext,
  guest: string,
  path: string,
  inode: string,
): Promise<string | undefined> {
  const res = await runOnGuest(ctx, guest, `find ${quote(dirname(path))} -maxdepth 1 -inum ${inode} -print -quit`);
  const found = res.stdout.split('\n')[0]?.trim() ?? '';
  return res.code === 0 && found !== '' ? found : undefined;
}

async function collectOne(ctx: HandlerContext, guest: string, path: string, logDir: string): Promise<FileReport> {
  const report: FileReport = { path, bytes: 0, rotated: false, truncated: false, missing: false };
  const sql = sshServices(ctx).sql;
  const local = join(logDir, 'tenants', ctx.tenant, 'guests', guest, path.replace(/^\/+/, ''));
  const saved = await getLogOffset(sql, ctx.tenant, guest, path);
  const localSize = await restoreLocal(local, saved?.localSize);
  const now = await remoteStat(ctx, guest, path);
  if (now === undefined && saved === undefined) return { ...report, missing: true };
  const start = saved ?? { inode: now?.inode ?? '0', offset: 0, localSize };
  if (saved === undefined) await saveLogOffset(sql, ctx.tenant, guest, path, start);
  const files = new FileCollector(ctx, guest, path, local, { ...start, localSize });
  if (now === undefined || now.inode !== start.inode) {
    // Rotated (or removed): finish the old file under its new name, then start the new one.
    const old = await findRotated(ctx, guest, path, start.inode);
    const oldStat = old === undefined ? undefined : await remoteStat(ctx, guest, old);
    if (old !== undefined && oldStat?.inode === start.inode)
      report.bytes += await files.copy(old, start.inode, oldStat.size);
    if (now === undefined) return { ...report, missing: true };
    report.rotated = true;
    await files.restart(now.inode);
  } else if (now.size < start.offset) {
    report.truncated = true;
    await files.restart(now.inode);
  }
  report.bytes += await files.copy(path, now.inode, now.size);
  return report;
}

/**
 * `guest.logs.collect`: appends what is new in each remote file to the tenant's guest log
 * directory. Per file it keeps (inode, offset, local size) in PostgreSQL, committed after each
 * fsynced append; a new inode finishes the rotated file (if still next to it) and starts the new
 * one from 0; a file shorter than the offset starts again from 0.
 */
export const guestLogsCollect: Handler<'guest.logs.collect'> = async (ctx) => {
  const { args } = ctx;
  const logDir = sshServices(ctx).logDir;
  if (logDir === undefined) throw new CmqError('CMQ_ERR_LOGS_DIR', 'this subscriber has no log.dir for collected logs');
  const files: FileReport[] = [];
  for (const path of args.paths) files.push(await collectOne(ctx, args.guest, path, logDir));
  ctx.logger.info({ guest: args.guest, files }, 'guest logs collected');
  return { status: 'succeeded', result: { files } };
};
