import { z } from 'zod';
import { defineAction } from './action-definition';
import { ACCOUNT_ID } from './ids';

/** The kinds a sync action polls, as `sync.<kind>` names them. */
export const SYNC_KINDS = ['servers', 'firewalls', 'volumes', 'budget'] as const;
export type SyncKind = (typeof SYNC_KINDS)[number];

/** The resource kind (resources.kind) each sync kind records. */
export const RESOURCE_KIND: Record<SyncKind, ResourceKind> = {
  servers: 'server',
  firewalls: 'firewall',
  volumes: 'volume',
  budget: 'budget',
};

export const RESOURCE_KINDS = ['server', 'firewall', 'volume', 'budget', 'system', 'sensor'] as const;
export type ResourceKind = (typeof RESOURCE_KINDS)[number];

/**
 * What recordSync serialises on (sync_schedule.kind): the scheduled cloud kinds, plus bare metal's
 * sync.metal (Cobbler systems) and ipmi.sensors (a BMC's sensors), which the scheduler never emits.
 */
export type RecordedSyncKind = SyncKind | 'metal' | 'sensors';

function sync<const K extends SyncKind>(kind: K, what: string) {
  return defineAction({
    type: `sync.${kind}` as const,
    family: 'monitor',
    mode: 'passive',
    destructive: false,
    description: `polls the account's ${what}, records created / changed / gone ones (cmq resources, cmq changes) and caches the latest state in Redis`,
    schema: z.strictObject({ account: ACCOUNT_ID }),
  });
}

/** Scheduled sync of cloud accounts (monitoring: every mode allows it). */
export const SYNC_DEFINITIONS = [
  sync('servers', 'servers'),
  sync('firewalls', 'firewalls (security groups)'),
  sync('volumes', 'volumes'),
  sync('budget', 'spend and budget (drivers without one: {supported:false})'),
] as const;
