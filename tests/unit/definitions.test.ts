import { ACTION_DEFINITIONS, argsJsonSchema, checkArgs, defaultFamily, knownActionTypes } from '@cmq/actions';
import { FAMILIES } from '@cmq/common';
import { HANDLERS, type HandlerTable } from '@cmq/subscriber';

/** The facts each type had before they had one home; a changed fact must be a deliberate change here. */
const EXPECTED: Record<string, [family: string, mode: string, destructive: boolean]> = {
  noop: ['control', 'passive', false],
  ping: ['control', 'passive', false],
  'guest.exec': ['guest', 'passive', false],
  'guest.logs.collect': ['guest', 'passive', false],
  'host.probe': ['monitor', 'passive', false],
  'sync.servers': ['monitor', 'passive', false],
  'sync.firewalls': ['monitor', 'passive', false],
  'sync.volumes': ['monitor', 'passive', false],
  'sync.budget': ['monitor', 'passive', false],
  'server.launch': ['provision', 'dynamic', false],
  'server.await': ['provision', 'dynamic', false],
  'server.terminate': ['provision', 'dynamic', true],
  'server.reboot': ['provision', 'dynamic', true],
  'node.start': ['provision', 'static', false],
  'node.stop': ['provision', 'static', true],
  'node.status': ['provision', 'static', false],
  'metal.provision': ['provision', 'static', true],
  'metal.power': ['provision', 'static', true],
  'sync.metal': ['monitor', 'passive', false],
  'ipmi.power': ['provision', 'static', true],
  'ipmi.sensors': ['monitor', 'passive', false],
};

describe('action definitions', () => {
  it('each type is defined once, with its family, mode and whether it is destructive', () => {
    expect(knownActionTypes()).toEqual(Object.keys(EXPECTED).sort());
    expect(new Set(ACTION_DEFINITIONS.map((d) => d.type)).size).toBe(ACTION_DEFINITIONS.length);
    const facts = Object.fromEntries(ACTION_DEFINITIONS.map((d) => [d.type, [d.family, d.mode, d.destructive]]));
    expect(facts).toEqual(EXPECTED);
    for (const d of ACTION_DEFINITIONS) expect(d.description.length).toBeGreaterThan(10);
  });

  it('an unknown type has no family and fails the check naming the known ones', () => {
    expect(defaultFamily('no.such.type')).toBeUndefined();
    expect(checkArgs('no.such.type', {})).toEqual({
      ok: false,
      error: expect.stringContaining('unknown action type "no.such.type" (known: guest.exec,') as unknown,
      issues: [{ path: ['type'], subject: '', message: expect.stringMatching(/^unknown action type/) as unknown }],
    });
  });

  it('noop and ping go to the family their arguments name; others to their own', () => {
    expect(checkArgs('noop', { family: 'guest' })).toMatchObject({ ok: true, type: 'noop', family: 'guest' });
    expect(checkArgs('ping', {})).toMatchObject({ ok: true, family: 'control' });
    expect(checkArgs('node.stop', { node: 'n1' })).toMatchObject({ ok: true, family: 'provision' });
  });

  it('every type has a JSON Schema of its arguments, for generated forms', () => {
    for (const type of knownActionTypes()) {
      const schema = argsJsonSchema(type);
      expect({ type, kind: schema.type, closed: schema.additionalProperties }).toEqual({
        type,
        kind: 'object',
        closed: false,
      });
    }
    const exec = argsJsonSchema('guest.exec');
    expect(exec.required).toEqual(['guest', 'command']);
    expect(Object.keys(exec.properties as object)).toEqual(['guest', 'command', 'timeout', 'env']);
    const noop = argsJsonSchema('noop') as { properties: { family: { enum: string[] } } };
    expect(noop.properties.family.enum).toEqual([...FAMILIES]);
  });

  it('every type has a handler, and the table has no other key', () => {
    expect(Object.keys(HANDLERS).sort()).toEqual(knownActionTypes());
    // The type checker (npm run typecheck) refuses a table that lacks a type or has an extra one.
    const lacking: Omit<HandlerTable, 'noop'> = HANDLERS;
    // @ts-expect-error a table without noop's handler does not compile
    const incomplete: HandlerTable = lacking;
    // @ts-expect-error a handler for a type that has no definition does not compile
    const extra: HandlerTable = { ...HANDLERS, 'no.such.type': HANDLERS.noop };
    // @ts-expect-error a handler of another type's arguments does not compile
    const wrong: HandlerTable = { ...HANDLERS, 'node.stop': HANDLERS['guest.exec'] };
    expect([incomplete, extra, wrong].every((t) => typeof t.ping === 'function')).toBe(true);
  });
});
