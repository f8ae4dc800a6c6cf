import { z } from 'zod';
import type { Family } from '@cmq/common';
import { logPathProblem } from './guests';

/** One rule for remote log paths everywhere (here, `cmq guests add --log-paths`, publisher `logs.paths`). */
const REMOTE_PATH = z.string().superRefine((path, ctx) => {
  const problem = logPathProblem(path);
  if (problem !== undefined)
    ctx.addIssue({ code: 'custom', message: `an absolute path of a file on the guest, and this one ${problem}` });
});

const guestLogsCollect = {
  type: 'guest.logs.collect',
  description:
    'appends what is new in each remote file since the last collection to <log.dir>/tenants/<tenant>/guests/<guest>/<path>; follows rotation and truncation',
  schema: z.strictObject({
    guest: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a guest id of the tenant (cmq guests list)'),
    paths: z.array(REMOTE_PATH).min(1).max(100),
  }),
  family: (): Family => 'guest',
};

/** (Shaped as definitions.ts's ActionDefinition, checked there; no import back, so no cycle.) Log collection from guests (every mode allows it). */
export const LOG_DEFINITIONS = [guestLogsCollect] as const;
