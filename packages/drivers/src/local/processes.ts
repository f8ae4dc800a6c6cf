import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { sleep } from '@cmq/common';
import { readIfExists } from './files';

/**
 * Whether `pid` is a live process whose command line contains `marker` (a path of its server):
 * a pid recorded long ago may belong to someone else now, and a zombie has no command line.
 */
export function isOurs(pid: number | undefined, marker: string): boolean {
  if (pid === undefined || !Number.isInteger(pid) || pid <= 1) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker);
  } catch {
    return false;
  }
}

/** The pid in a pid file when that process is ours and alive, else undefined. */
export async function livePid(operation: string, pidFile: string, marker: string): Promise<number | undefined> {
  const text = await readIfExists(operation, pidFile);
  const pid = text === undefined ? NaN : Number(text.trim());
  return isOurs(pid, marker) ? pid : undefined;
}

/**
 * The fields of /proc/PID/stat after the parenthesised command name (which may contain spaces):
 * [0] is field 3 (state), [1] field 4 (ppid), ... [19] field 22 (starttime). Throws when it cannot be read.
 */
export function procStat(pid: number | string): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The pid directories of /proc, or none when /proc cannot be listed. */
function procEntries(): string[] {
  try {
    return readdirSync('/proc').filter((e) => /^[0-9]+$/.test(e));
  } catch {
    return [];
  }
}

/** Direct and indirect children of `pid` (sshd's per-connection processes, a loop's `sleep`). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of procEntries()) {
    try {
      const ppid = Number(procStat(entry)[1]);
      parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of parents.get(queue.shift() as number) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * The pids (other than this process) for which `matches` holds. `matches` reads /proc; a process
 * that is gone meanwhile, or not ours to look at, throws and is skipped.
 */
function scanProcesses(matches: (pid: string) => boolean): number[] {
  return procEntries()
    .filter((entry) => {
      if (Number(entry) === process.pid) return false;
      try {
        return matches(entry);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/**
 * sshd processes that hold `path` open. sshd's per-connection processes keep its `-E` log file open:
 * this finds the sessions of a server whose listener died (they are nobody's descendants then).
 */
export function holders(path: string): number[] {
  return scanProcesses(
    (entry) =>
      readFileSync(`/proc/${entry}/cmdline`, 'utf8').startsWith('sshd') &&
      readdirSync(`/proc/${entry}/fd`).some((fd) => readlinkOrEmpty(`/proc/${entry}/fd/${fd}`) === path),
  );
}

/**
 * Processes of user `uid` that live in directory `dir`: their working directory is in it, or
 * their command line names it (a session's shell started there, a loop writing to a file there).
 */
export function userProcessesIn(uid: number, dir: string): number[] {
  return scanProcesses((entry) => {
    // Real, effective, saved and file system uid: any of them being the user's counts.
    const uids =
      /^Uid:\s+(.*)$/m
        .exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]
        ?.trim()
        .split(/\s+/)
        .map(Number) ?? [];
    if (!uids.includes(uid)) return false;
    const cwd = readlinkOrEmpty(`/proc/${entry}/cwd`);
    return cwd === dir || cwd.startsWith(`${dir}/`) || readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir);
  });
}

/** Whether process `pid` still exists (a zombie counts as gone). */
export function processExists(pid: number): boolean {
  try {
    return !/^[ZX]/.test(procStat(pid)[0] ?? '');
  } catch {
    return false;
  }
}

function readlinkOrEmpty(path: string): string {
  try {
    return readlinkSync(path);
  } catch {
    return '';
  }
}

/** Ends processes that are not a server's main process (leftover sessions): SIGKILL, no grace. */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) signal(pid, 'SIGKILL');
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Stops `pid` (checked to be ours by `marker`) and everything it started: SIGTERM, then SIGKILL
 * after `graceMs`. Returns false when it was still there after the SIGKILL wait.
 */
export async function stopProcess(pid: number, marker: string, graceMs = 3_000): Promise<boolean> {
  if (!isOurs(pid, marker)) return true;
  const family = [pid, ...descendants(pid)];
  for (const p of family) signal(p, 'SIGTERM');
  const gone = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (isOurs(pid, marker)) {
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  };
  if (await gone(graceMs)) {
    for (const p of family.slice(1)) signal(p, 'SIGKILL');
    return true;
  }
  for (const p of [pid, ...descendants(pid), ...family]) signal(p, 'SIGKILL');
  return gone(2_000);
}

/**
 * Starts a process that outlives this one: its own session (so a signal to the subscriber's
 * process group does not reach it), no stdio tied to ours, not waited for. Resolves with its pid
 * once it has started, or rejects with the spawn error (ENOENT, EACCES).
 */
export function spawnDetached(
  command: string,
  args: readonly string[],
  cwd: string,
  as?: { uid: number; gid: number },
): Promise<number> {
  return new Promise((resolve, reject) => {
    // A minimal environment: the subscriber's own (database passwords in env overrides...) stays with it.
    // `as`: run as that user (libuv drops the supplementary groups too).
    const child = spawn(command, args, {
      cwd,
      detached: true,
      stdio: 'ignore',
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' },
      ...(as ?? {}),
    });
    child.once('error', reject);
    child.once('spawn', () => {
      child.unref();
      resolve(child.pid as number);
    });
  });
}

/** Whether an SSH server answers on host:port with its identification line (`SSH-2.0-...`). */
export function sshAnswers(host: string, port: number, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    let seen = '';
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.includes('\n')) done(seen.startsWith('SSH-'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Whether anything accepts TCP connections on host:port. */
export function portTaken(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (taken: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(taken);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
