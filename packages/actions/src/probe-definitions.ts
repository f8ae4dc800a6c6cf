import { z } from 'zod';
import type { Family } from '@cmq/common';
import { PROBES } from './probe-parsers';

const hostProbe = {
  type: 'host.probe',
  description:
    'runs a probe on a guest over SSH (pbs-qstat: qstat -Q; ipmi-sensor: ipmitool sensor; command: the given command) and records the parsed output',
  schema: z
    .strictObject({
      target: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'a guest id of the tenant (cmq guests list)'),
      probe: z.enum(PROBES),
      command: z
        .string()
        .min(1)
        .max(64 * 1024)
        .optional(),
      timeout: z.number().positive().max(3_600).optional(),
    })
    .refine((a) => (a.probe === 'command') === (a.command !== undefined), {
      message: 'command is required with probe=command and refused with the other probes',
      path: ['command'],
    }),
  family: (): Family => 'monitor',
};

/** (Shaped as definitions.ts's ActionDefinition, checked there; no import back, so no cycle.) Host status probes (every mode allows them). */
export const PROBE_DEFINITIONS = [hostProbe] as const;
