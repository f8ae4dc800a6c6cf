import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { fsError } from './local-errors';

function tmpName(path: string): string {
  return `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Creates a directory (and its parents); `mode` applies to the ones it creates. */
export async function ensureDir(operation: string, path: string, mode = 0o711): Promise<void> {
  try {
    await mkdir(path, { recursive: true, mode });
  } catch (err) {
    throw fsError(operation, 'cannot create directory', path, err);
  }
}

/** Replaces a file's content all at once (write a temporary file, then rename it over). */
export async function writeAtomic(operation: string, path: string, content: string, mode = 0o644): Promise<void> {
  const tmp = tmpName(path);
  try {
    // wx: never through anything already at the temporary name (a link).
    await writeFile(tmp, content, { mode, flag: 'wx' });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw fsError(operation, 'cannot write', path, err);
  }
}

/**
 * Creates `path` with `content` only when it does not exist yet, all at once: a reader never sees
 * it empty (a hard link of a complete temporary file; link fails with EEXIST like O_EXCL).
 * Returns false when it already existed.
 */
export async function createExclusive(operation: string, path: string, content: string): Promise<boolean> {
  const tmp = tmpName(path);
  try {
    await writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
    await link(tmp, path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw fsError(operation, 'cannot create', path, err);
  } finally {
    await rm(tmp, { force: true }).catch(() => undefined);
  }
}

/** A file's text, or undefined when it does not exist. */
export async function readIfExists(operation: string, path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fsError(operation, 'cannot read', path, err);
  }
}

export async function remove(operation: string, path: string): Promise<void> {
  try {
    await rm(path, { force: true, recursive: true });
  } catch (err) {
    throw fsError(operation, 'cannot remove', path, err);
  }
}
