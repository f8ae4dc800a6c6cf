import { z } from 'zod';
import { defineAction } from './action-definition';
import { GUEST_ID } from './ids';
import { logPathProblem } from './guests';

/** One rule for remote log paths everywhere (here, `cmq guests add --log-paths`, publisher `logs.paths`). */
const REMOTE_PATH = z.string().superRefine((path, ctx) => {
  const problem = logPathProblem(path);
  if (problem !== undefined)
    ctx.addIssue({ code: 'custom', message: `an absolute path of a file on the guest, and this one ${problem}` });
});

const guestLogsCollect = defineAction({
  type: 'guest.logs.collect',
  family: 'guest',
  mode: 'passive',
  destructive: false,
  description:
    'appends what is new in each remote file since the last collection to <log.dir>/tenants/<tenant>/guests/<guest>/<path>; follows rotation and truncation',
  schema: z.strictObject({
    guest: GUEST_ID,
    paths: z.array(REMOTE_PATH).min(1).max(100),
  }),
});

const guestExec = defineAction({
  type: 'guest.exec',
  family: 'guest',
  mode: 'passive',
  destructive: false,
  description:
    'runs a shell command on a guest over SSH: {code, stdout, stderr, truncated}; a non-zero exit ends the action failed',
  schema: z.strictObject({
    guest: GUEST_ID,
    command: z
      .string()
      .min(1)
      .max(64 * 1024),
    timeout: z.number().positive().max(86_400).optional(),
    env: z
      .record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a shell variable name'), z.string().max(64 * 1024))
      .optional(),
  }),
  secretArgs: ['env.*'],
});

/** Commands and log collection on guests over SSH (every mode allows them). */
export const GUEST_DEFINITIONS = [guestExec, guestLogsCollect] as const;
