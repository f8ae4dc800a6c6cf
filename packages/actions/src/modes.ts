/** The operating modes of provisioning.cfg `mode`, from least to most allowed. */
export const MODES = ['passive', 'static', 'dynamic'] as const;
export type Mode = (typeof MODES)[number];

/** Monitoring only: every mode allows these. */
const MONITORING = /^(ping|noop|sync\..+|guest\.exec|guest\.logs\.collect|host\.probe)$/;

/** The least mode that allows `type`, or undefined when no mode does. */
export function requiredMode(type: string): Mode | undefined {
  if (MONITORING.test(type)) return 'passive';
  if (type.startsWith('node.')) return 'static';
  if (type.startsWith('server.')) return 'dynamic';
  return undefined;
}

/** Whether `mode` lets actions of `type` be submitted and run. */
export function modeAllows(mode: Mode, type: string): boolean {
  const needed = requiredMode(type);
  return needed !== undefined && MODES.indexOf(mode) >= MODES.indexOf(needed);
}

/**
 * Why `mode` refuses `type`, naming the file and key that decide it; undefined when allowed.
 * "provisioning.cfg mode=passive refuses server.launch (provisioning actions need mode=dynamic)"
 */
export function modeRefusal(mode: Mode, type: string): string | undefined {
  if (modeAllows(mode, type)) return undefined;
  const needed = requiredMode(type);
  const why =
    needed === 'dynamic'
      ? 'provisioning actions need mode=dynamic'
      : needed === 'static'
        ? 'node actions need mode=static or mode=dynamic'
        : 'no mode allows it';
  return `provisioning.cfg mode=${mode} refuses ${type} (${why})`;
}
