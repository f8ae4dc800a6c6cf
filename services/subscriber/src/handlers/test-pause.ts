import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { sleep } from '@cmq/common';
import type { HandlerContext } from './handler';

/**
 * TEST HOOKS, never set in production: when the environment variable `env` names a file, logs
 * `message` as a warning, creates `<file>.waiting`, then waits until `<file>` exists (the
 * end-to-end tests SIGKILL a subscriber at that exact point). Not config keys on purpose (no
 * properties file, sample or `cmq config` can set them). Unset, this costs one property read.
 */
export async function testPause(ctx: HandlerContext, env: string, message: string): Promise<void> {
  const file = process.env[env];
  if (file === undefined || file === '') return;
  ctx.logger.warn({ env, file }, message);
  await writeFile(`${file}.waiting`, `${process.pid}\n`);
  while (!existsSync(file)) await sleep(50);
}
