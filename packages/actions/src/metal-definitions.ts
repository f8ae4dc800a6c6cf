import { z } from 'zod';
import { defineAction } from './action-definition';
import { ACCOUNT_ID } from './ids';

/** A Cobbler system or profile name (Cobbler allows letters, digits, `.`, `_`, `-` and `:`). */
const COBBLER_NAME = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,254}$/, 'a Cobbler name: letters, digits, ".", "_", "-" and ":"');

export const METAL_POWER_OPS = ['on', 'off', 'reboot', 'status'] as const;
export type MetalPowerOp = (typeof METAL_POWER_OPS)[number];
export const IPMI_POWER_OPS = ['status', 'on', 'off', 'cycle'] as const;
export type IpmiPowerOp = (typeof IPMI_POWER_OPS)[number];

/**
 * Bare metal of the platform's own hosts: Cobbler provisioning and power (account provider
 * cobbler) and a BMC's power and sensors over IPMI (account provider ipmi). Changing what runs
 * on a host, like node.*, needs mode=static (docs/decisions/0021-bare-metal-actions.md); reading
 * its state is monitoring, which every mode allows.
 */
export const METAL_DEFINITIONS = [
  defineAction({
    type: 'metal.provision',
    family: 'provision',
    mode: 'static',
    destructive: true,
    description:
      'reinstalls a Cobbler system: assigns the profile, sets netboot_enabled, saves, syncs (one sync per Cobbler server at a time), then power-cycles it once',
    schema: z.strictObject({ account: ACCOUNT_ID, system: COBBLER_NAME, profile: COBBLER_NAME }),
  }),
  defineAction({
    type: 'metal.power',
    family: 'provision',
    mode: 'static',
    destructive: true,
    description:
      "powers a Cobbler system on, off or reboots it through Cobbler's power management, or reads its power state",
    schema: z.strictObject({ account: ACCOUNT_ID, system: COBBLER_NAME, op: z.enum(METAL_POWER_OPS) }),
  }),
  defineAction({
    type: 'sync.metal',
    family: 'monitor',
    mode: 'passive',
    destructive: false,
    description:
      "records a Cobbler server's systems (profile, netboot flag, power state) as resources of kind system, with change events (cmq resources, cmq changes)",
    schema: z.strictObject({ account: ACCOUNT_ID }),
  }),
  defineAction({
    type: 'ipmi.power',
    family: 'provision',
    mode: 'static',
    destructive: true,
    description:
      "asks the ipmi account's BMC (ipmitool -I lanplus) for the chassis power status, or powers it on, off, or cycles it",
    schema: z.strictObject({ account: ACCOUNT_ID, op: z.enum(IPMI_POWER_OPS) }),
  }),
  defineAction({
    type: 'ipmi.sensors',
    family: 'monitor',
    mode: 'passive',
    destructive: false,
    description:
      "reads the ipmi account's BMC sensors (ipmitool -I lanplus -c sensor) with thresholds (cmq probes --target bmc-<account>); a status change (ok to cr) is a change event",
    schema: z.strictObject({ account: ACCOUNT_ID, timeout: z.number().positive().max(600).optional() }),
  }),
] as const;
