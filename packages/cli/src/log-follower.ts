import { type FileHandle, open, stat } from 'node:fs/promises';
import { sleep } from '@cmq/common';

const CHUNK = 64 * 1024;
/** After the path changed, the old file is still read this long: a process not yet reopened may append to it. */
const RETIRE_MS = 5_000;

/** One open file and the incomplete last line read from it so far. */
class Reader {
  private pos = 0;
  private partial = '';
  private readonly buffer = Buffer.alloc(CHUNK);

  private constructor(
    readonly handle: FileHandle,
    readonly ino: number,
  ) {}

  static async open(path: string): Promise<Reader | undefined> {
    try {
      const handle = await open(path, 'r');
      return new Reader(handle, (await handle.stat()).ino);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Every complete line appended since the last call; the file shrank (truncation) → from its start. */
  async lines(flushPartial = false): Promise<string[]> {
    if ((await this.handle.stat()).size < this.pos) {
      this.pos = 0;
      this.partial = '';
    }
    const out: string[] = [];
    for (;;) {
      const { bytesRead } = await this.handle.read(this.buffer, 0, CHUNK, this.pos);
      if (bytesRead === 0) break;
      this.pos += bytesRead;
      const parts = (this.partial + this.buffer.toString('utf8', 0, bytesRead)).split('\n');
      this.partial = parts.pop() ?? '';
      out.push(...parts);
    }
    if (flushPartial && this.partial !== '') out.push(this.partial);
    if (flushPartial) this.partial = '';
    return out.filter((l) => l !== '');
  }
}

async function inodeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).ino;
  } catch {
    return undefined;
  }
}

/**
 * Reads a log file to its end, then (when `follow`) keeps reading what is appended, like
 * `tail -F`: when the path gets a new file (logrotate renamed the old one) the old one is
 * drained and still watched a few seconds, the new one read from its start; a truncated file is
 * read again from its start. `emit` gets every line once, in file order per file.
 */
export async function readLog(
  path: string,
  follow: boolean,
  signal: AbortSignal,
  emit: (line: string) => void,
  pollMs = 200,
): Promise<boolean> {
  let current = await Reader.open(path);
  if (!follow) {
    if (current === undefined) return false;
    for (const l of await current.lines(true)) emit(l);
    await current.handle.close();
    return true;
  }
  const retired: Array<{ reader: Reader; until: number }> = [];
  try {
    while (!signal.aborted) {
      for (const r of retired) for (const l of await r.reader.lines()) emit(l);
      if (current !== undefined) for (const l of await current.lines()) emit(l);
      const ino = await inodeOf(path);
      if (ino !== undefined && ino !== current?.ino) {
        if (current !== undefined) retired.push({ reader: current, until: Date.now() + RETIRE_MS });
        current = await Reader.open(path);
        continue;
      }
      await closeExpired(retired, emit);
      await sleep(pollMs, signal);
    }
  } finally {
    for (const r of retired) await r.reader.handle.close();
    await current?.handle.close();
  }
  return true;
}

async function closeExpired(
  retired: Array<{ reader: Reader; until: number }>,
  emit: (line: string) => void,
): Promise<void> {
  const now = Date.now();
  for (let i = retired.length - 1; i >= 0; i -= 1) {
    const r = retired[i];
    if (r === undefined || r.until > now) continue;
    for (const l of await r.reader.lines(true)) emit(l);
    await r.reader.handle.close();
    retired.splice(i, 1);
  }
}
