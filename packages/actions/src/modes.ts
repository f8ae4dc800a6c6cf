import { MODES, type Mode } from './action-definition';
import { actionDefinition } from './definitions';

export { MODES, type Mode } from './action-definition';

/** The least mode that allows `type` (its definition's `mode`), or undefined for an unknown type. */
export function requiredMode(type: string): Mode | undefined {
  return actionDefinition(type)?.mode;
}

/** Whether `mode` lets actions of `type` be submitted and run. */
export function modeAllows(mode: Mode, type: string): boolean {
  const needed = requiredMode(type);
  return needed !== undefined && MODES.indexOf(mode) >= MODES.indexOf(needed);
}

const WHY: Record<Mode, string> = {
  passive: 'every mode allows it',
  static: 'node and bare-metal actions need mode=static or mode=dynamic',
  dynamic: 'provisioning actions need mode=dynamic',
};

/**
 * Why `mode` refuses `type`, naming the file and key that decide it; undefined when allowed.
 * "provisioning.cfg mode=passive refuses server.launch (provisioning actions need mode=dynamic)"
 */
export function modeRefusal(mode: Mode, type: string): string | undefined {
  if (modeAllows(mode, type)) return undefined;
  const needed = requiredMode(type);
  const why = needed === undefined ? 'no mode allows it' : WHY[needed];
  return `provisioning.cfg mode=${mode} refuses ${type} (${why})`;
}
