import { readdir, rm } from 'node:fs/promises';
import { createExclusive, ensureDir, readIfExists } from './files';
import type { Layout } from './layout';
import { fsError, localError } from './local-errors';
import { portTaken } from './processes';

/** 127.0.0.2 ... 127.0.255.254: never 127.0.0.1 (the platform's own services listen there). */
function* candidates(): Generator<string> {
  for (let x = 0; x <= 255; x++) {
    for (let y = x === 0 ? 2 : 1; y <= 254; y++) yield `127.0.${x}.${y}`;
  }
}

/** The address an earlier, interrupted call already took for `owner` (`<account>/<id>`), if any. */
async function alreadyTaken(operation: string, layout: Layout, owner: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(layout.addressesDir);
  } catch (err) {
    throw fsError(operation, 'cannot list', layout.addressesDir, err);
  }
  for (const name of names) {
    if (!/^127\.0\.\d+\.\d+$/.test(name)) continue;
    if ((await readIfExists(operation, layout.addressFile(name)))?.trim() === owner) return name;
  }
  return undefined;
}

/**
 * Takes a loopback address for server `owner` (`<account>/<id>`), unique among every account of
 * the state dir: the file `addresses/<address>` is created exclusively. An address where
 * something already listens on `port` (another state dir, another program) is skipped.
 */
export async function allocateAddress(
  operation: string,
  layout: Layout,
  owner: string,
  port: number,
  skip: ReadonlySet<string> = new Set(),
): Promise<string> {
  await ensureDir(operation, layout.addressesDir);
  const earlier = await alreadyTaken(operation, layout, owner);
  if (earlier !== undefined && !skip.has(earlier)) return earlier;
  for (const address of candidates()) {
    if (skip.has(address)) continue;
    if (!(await createExclusive(operation, layout.addressFile(address), `${owner}\n`))) continue;
    if (!(await portTaken(address, port))) return address;
    await rm(layout.addressFile(address), { force: true });
  }
  throw localError(
    'transient',
    operation,
    `no free loopback address in 127.0.0.0/16 for port ${port} (${layout.addressesDir})`,
    'InsufficientAddressCapacity',
  );
}

/** Gives the address back, unless it has been handed to another server meanwhile. */
export async function releaseAddress(operation: string, layout: Layout, address: string, owner: string): Promise<void> {
  const path = layout.addressFile(address);
  if ((await readIfExists(operation, path))?.trim() !== owner) return;
  try {
    await rm(path, { force: true });
  } catch (err) {
    throw fsError(operation, 'cannot remove', path, err);
  }
}
