import { FAMILIES } from '@cmq/common';
import { z } from 'zod';
import { defineAction } from './action-definition';

const noop = defineAction({
  type: 'noop',
  family: 'control',
  mode: 'passive',
  destructive: false,
  description: 'does nothing, optionally slowly or failing: for tests, benchmarks and drills',
  schema: z.strictObject({
    sleep_ms: z.number().int().min(0).max(600_000).optional(),
    fail_times: z.number().int().min(0).max(1_000).optional(),
    fail: z.enum(['permanent', 'outcome', 'bug']).optional(),
    message: z.string().max(4096).optional(),
    count: z.boolean().optional(),
    family: z.enum(FAMILIES).optional(),
  }),
  route: (args) => args.family,
});

const ping = defineAction({
  type: 'ping',
  family: 'control',
  mode: 'passive',
  destructive: false,
  description: 'a canary: proves a family queue is consumed, end to end',
  schema: z.strictObject({ family: z.enum(FAMILIES).optional(), sent_at: z.iso.datetime().optional() }),
  route: (args) => args.family,
});

/** Drills and canaries: they run in any family the arguments name (every mode allows them). */
export const CONTROL_DEFINITIONS = [noop, ping] as const;
