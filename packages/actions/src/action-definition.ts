import type { Family } from '@cmq/common';
import type { z } from 'zod';

/** What the platform knows about one action type: where it runs and what arguments it takes. */
export interface ActionDefinition {
  readonly type: string;
  readonly description: string;
  readonly schema: z.ZodType<Record<string, unknown>>;
  /** The queue family the action goes to (most types have a fixed one). */
  family(args: Record<string, unknown>): Family;
}
