import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, rename, rm } from 'node:fs/promises';
import { sleep } from '@cmq/common';
import { createExclusive, readIfExists } from './files';
import { fsError, localError } from './local-errors';
import { procStat } from './processes';

/** This boot of the machine: a pid (and a start time) from another boot means nothing now. */
function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/**
 * What /proc says of process `pid`: when it started (field 22 of /proc/PID/stat, clock ticks
 * since boot), `dead` for a zombie (it holds nothing any more), or undefined when its stat cannot
 * be read (no such process, or no /proc to read: a container without it, hidepid).
 */
function procStart(pid: number): { start: string | undefined } | 'dead' | undefined {
  try {
    const fields = procStat(pid);
    if (fields[0] === 'Z' || fields[0] === 'X') return 'dead';
    return { start: fields[19] };
  } catch {
    return undefined;
  }
}

/** When process `pid` started, or undefined when that cannot be read (see procStart) or it is a zombie. */
export function processStartTime(pid: number): string | undefined {
  const start = procStart(pid);
  return start === 'dead' ? undefined : start?.start;
}

/** Whether a process `pid` exists (signal 0: EPERM means it does, another user's). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<pid> <start time> <boot id> <nonce>`: who holds the lock, told apart from a later process with a recycled pid. */
function lockText(): string {
  return `${process.pid} ${processStartTime(process.pid) ?? '-'} ${bootId()} ${randomBytes(8).toString('hex')}\n`;
}

/**
 * Whether the lock content names a holder that is gone: another boot (the pid was recycled since),
 * a dead pid, or a live pid that started at another time (recycled within this boot). A lock of
 * the older format (only a pid) is stale when that pid is dead; unreadable content is stale.
 * Without a start time to read (no /proc, or the holder's hidden), the holder counts as alive
 * while its pid exists (signal 0): a recycled pid then keeps a lock until that process ends,
 * never lets two holders in at once.
 */
function isStale(text: string): boolean {
  const [pidText, start, boot] = text.trim().split(/\s+/);
  const pid = Number(pidText);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  const startNow = procStart(pid);
  if (startNow === 'dead') return true;
  if (startNow === undefined) return !pidAlive(pid);
  if (start === undefined || boot === undefined) return false;
  // `-`: the holder could not read its own start time; its pid being alive is all there is to go on.
  return boot !== bootId() || (start !== '-' && start !== startNow.start);
}

/**
 * Moves a stale lock out of the way: renamed to a name of our own (only one waiter's rename of
 * one file succeeds), then checked to be the very lock judged stale (the nonce differs per
 * holder). When the lock changed hands between the read and the rename, the live holder's file is
 * put back (link: fails if a third process took the name in that instant, a crash-plus-three-way
 * race of microseconds that is not guarded further).
 */
async function takeOver(operation: string, path: string, stale: string): Promise<void> {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fsError(operation, 'cannot take over the stale lock', path, err);
  }
  try {
    if ((await readIfExists(operation, aside)) !== stale) await link(aside, path).catch(() => undefined);
  } finally {
    await rm(aside, { force: true });
  }
}

/**
 * Runs `fn` holding the lock file `path` (created exclusively; it names this process, its start
 * time and the boot), so that launches, reboots and terminations of one server, from this process
 * or any other, run one at a time. A lock whose holder is gone (dead, or a pid from another boot or
 * recycled since) is taken over at once; waiting longer than `timeoutMs` for a live one fails
 * transient. The lock is removed at the end only while it is still this call's.
 */
export async function withLock<T>(
  operation: string,
  path: string,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  const mine = lockText();
  const deadline = Date.now() + timeoutMs;
  while (!(await createExclusive(operation, path, mine))) {
    const held = await readIfExists(operation, path);
    if (held === undefined) continue;
    if (isStale(held)) {
      // The holder died mid-call: whatever it left half done is redone by the next holder.
      await takeOver(operation, path, held);
      continue;
    }
    if (Date.now() > deadline)
      throw localError(
        'transient',
        operation,
        `${path} is held by process ${held.trim().split(/\s+/)[0]} for more than ${timeoutMs} ms`,
      );
    await sleep(50);
  }
  try {
    return await fn();
  } finally {
    await release(operation, path, mine);
  }
}

/**
 * Removes the lock while it is still this call's. Absent, it may be only moved aside for a moment
 * by a waiter taking over a lock it judged stale (see takeOver), which puts it back when it turns
 * out to be live: looked at again for a while, so that it is not left behind naming this process.
 */
async function release(operation: string, path: string, mine: string): Promise<void> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const now = await readIfExists(operation, path);
    if (now === mine) {
      await rm(path, { force: true });
      return;
    }
    if (now !== undefined) return;
    await sleep(20);
  }
}
