import { z } from 'zod';
import { defineAction } from './action-definition';
import { GUEST_ID } from './ids';
import { PROBES } from './probe-parsers';

const hostProbe = defineAction({
  type: 'host.probe',
  family: 'monitor',
  mode: 'passive',
  destructive: false,
  description:
    'runs a probe on a guest over SSH (pbs-qstat: qstat -Q; ipmi-sensor: ipmitool sensor; command: the given command) and records the parsed output',
  schema: z
    .strictObject({
      target: GUEST_ID,
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
});

/** Host status probes (every mode allows them). */
export const PROBE_DEFINITIONS = [hostProbe] as const;
