import { argsJsonSchema, parseRequest } from '@cmq/actions';
import { OPTION_FIELDS, argFields, fieldErrors, requestOfForm } from '@cmq/console/src/acts/launch-fields';

/** The console's launch forms: fields from the JSON Schema, values typed, errors put back on their fields. */
describe('launch form fields', () => {
  const noop = argFields(argsJsonSchema('noop'));

  it('reads types, enums and limits from the schema', () => {
    const byKey = Object.fromEntries(noop.map((f) => [f.key, f]));
    expect(byKey.sleep_ms).toMatchObject({ name: 'arg.sleep_ms', kind: 'number', min: 0, max: 600_000, step: '1' });
    expect(byKey.fail).toMatchObject({ kind: 'select', options: ['permanent', 'outcome', 'bug'] });
    expect(byKey.count).toMatchObject({ kind: 'select', options: ['true', 'false'] });
    expect(byKey.message).toMatchObject({ kind: 'text', maxLength: 4096 });
    const terminate = argFields(argsJsonSchema('server.terminate'));
    expect(terminate.map((f) => [f.key, f.required, f.list])).toEqual([
      ['account', true, 'list-account'],
      ['server', true, 'list-server'],
    ]);
  });

  it('types the values, leaves out empty ones, and puts each schema error beside its field', () => {
    const fields = [...noop, ...OPTION_FIELDS];
    const { raw, errors } = requestOfForm('noop', 'ta', fields, {
      'arg.sleep_ms': '9999999',
      'arg.count': 'true',
      'arg.message': '',
      'opt.priority': '500',
    });
    expect(errors).toEqual({});
    expect(raw).toEqual({ type: 'noop', tenant: 'ta', args: { sleep_ms: 9_999_999, count: true }, priority: 500 });
    const checked = parseRequest(raw);
    expect(checked.ok).toBe(false);
    // The request's own fields are checked before the arguments (parseRequest): one stage at a time.
    const first = fieldErrors(checked.ok ? '' : checked.error, fields);
    expect(Object.keys(first)).toEqual(['opt.priority']);
    expect(first['opt.priority']).toMatch(/100/);
    const fixed = parseRequest({ ...raw, priority: 5 });
    const shown = fieldErrors(fixed.ok ? '' : fixed.error, fields);
    expect(Object.keys(shown)).toEqual(['arg.sleep_ms']);
    expect(shown['arg.sleep_ms']).toMatch(/600000/);
  });

  it('keeps what names no field for the top of the form', () => {
    expect(fieldErrors('countdown and eta: give one of them, not both', OPTION_FIELDS)).toEqual({
      'opt.countdown': 'give one of them, not both',
    });
    expect(fieldErrors('args: unknown field(s) nope', noop)).toEqual({ '': 'args: unknown field(s) nope' });
    expect(fieldErrors('provisioning.cfg mode=passive refuses server.launch (x)', noop)).toEqual({
      '': 'provisioning.cfg mode=passive refuses server.launch (x)',
    });
  });
});
