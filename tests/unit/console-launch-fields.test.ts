import {
  IntakeError,
  argsJsonSchema,
  issueText,
  issuesText,
  modeIssue,
  modeRefusal,
  parseRequest,
  tenantIssue,
  tenantRefusal,
} from '@cmq/actions';
import {
  type FormField,
  OPTION_FIELDS,
  argFields,
  fieldErrors,
  requestOfForm,
} from '@cmq/console/src/acts/launch-fields';

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
    const first = fieldErrors(checked.ok ? [] : checked.issues, fields);
    expect(Object.keys(first)).toEqual(['opt.priority']);
    expect(first['opt.priority']).toMatch(/100/);
    const fixed = parseRequest({ ...raw, priority: 5 });
    const shown = fieldErrors(fixed.ok ? [] : fixed.issues, fields);
    expect(Object.keys(shown)).toEqual(['arg.sleep_ms']);
    expect(shown['arg.sleep_ms']).toMatch(/600000/);
  });

  it('keeps what names no field for the top of the form', () => {
    const both = parseRequest({ type: 'noop', tenant: 'ta', countdown: 5, eta: '2030-01-01T00:00:00Z' });
    expect(fieldErrors(both.ok ? [] : both.issues, OPTION_FIELDS)).toEqual({
      'opt.countdown': 'give one of them, not both',
    });
    const unknown = parseRequest({ type: 'noop', tenant: 'ta', args: { nope: 1 } });
    expect(fieldErrors(unknown.ok ? [] : unknown.issues, noop)).toEqual({ '': 'args: unknown field(s) nope' });
    const mode = modeIssue('passive', 'server.launch');
    const refusal = new IntakeError(mode === undefined ? [] : [mode]);
    expect(refusal.message).toBe(modeRefusal('passive', 'server.launch'));
    expect(fieldErrors(refusal.issues, noop)).toEqual({ '': refusal.message });
  });
});

/**
 * The issues behind a refusal are data (packages/actions/src/request-issues.ts): the console places
 * them from the same issues the CLI's text is built from, whatever the text says.
 */
describe('launch form errors from structured issues', () => {
  const issuesOf = (raw: unknown) => {
    const checked = parseRequest(raw);
    if (checked.ok) throw new Error('expected a refusal');
    // One source: the text `cmq call` prints is built from the very issues the console places.
    expect(checked.error).toBe(issuesText(checked.issues));
    return checked.issues;
  };

  it('puts an error below an argument (a key of an object, an element of a list) on that argument, saying which', () => {
    const exec = [...argFields(argsJsonSchema('guest.exec')), ...OPTION_FIELDS];
    // A key with `: ` and `; ` in it: text split on those would lose the field.
    const key = issuesOf({
      type: 'guest.exec',
      tenant: 'ta',
      args: { guest: 'g1', command: 'id', env: { 'A:B; C': 'x' } },
    });
    expect(fieldErrors(key, exec)).toEqual({ 'arg.env': 'A:B; C: Invalid key in record' });
    const nul = issuesOf({
      type: 'guest.exec',
      tenant: 'ta',
      args: { guest: 'g1', command: 'id', env: { X: 'x\u0000' } },
    });
    expect(fieldErrors(nul, exec)).toEqual({ 'arg.env': 'X: contains U+0000 (NUL), which cannot be stored' });
    const logs = argFields(argsJsonSchema('guest.logs.collect'));
    const paths = issuesOf({
      type: 'guest.logs.collect',
      tenant: 'ta',
      args: { guest: 'g1', paths: ['/var/log/a', 'rel'] },
    });
    const shown = fieldErrors(paths, logs);
    expect(Object.keys(shown)).toEqual(['arg.paths']);
    expect(shown['arg.paths']).toMatch(/^1: an absolute path/);
  });

  it('puts errors of the options on theirs, several at once', () => {
    const shown = fieldErrors(issuesOf({ type: 'noop', tenant: 'ta', priority: 500, max_attempts: 0 }), OPTION_FIELDS);
    expect(Object.keys(shown).sort()).toEqual(['opt.max_attempts', 'opt.priority']);
    expect(shown['opt.priority']).toMatch(/100/);
    expect(shown['opt.max_attempts']).toMatch(/1/);
  });

  it('keeps for the top of the form, as the CLI says it, what names no field of the form', () => {
    const fields = [...argFields(argsJsonSchema('noop')), ...OPTION_FIELDS];
    expect(fieldErrors(issuesOf({ type: 'nope', tenant: 'ta' }), fields)).toEqual({
      '': expect.stringMatching(/^unknown action type "nope" \(known: /) as unknown,
    });
    expect(fieldErrors(issuesOf({ type: 'noop', tenant: 'ta', sleep: 1 }), fields)).toEqual({
      '': '(request): unknown field(s) sleep',
    });
  });

  it('puts an intake refusal of the tenant on the tenant field, and of the mode above the form', () => {
    const tenant: FormField = {
      name: 'opt.tenant',
      key: 'tenant',
      label: 'tenant',
      kind: 'text',
      required: true,
      description: '',
      options: [],
    };
    const unknown = tenantIssue('zz', undefined);
    expect(unknown && issueText(unknown)).toBe(tenantRefusal('zz', undefined));
    expect(fieldErrors(unknown === undefined ? [] : [unknown], [tenant])).toEqual({
      'opt.tenant': 'unknown tenant "zz" (add it with `cmq tenants add`)',
    });
    const mode = modeIssue('passive', 'server.launch');
    expect(fieldErrors(mode === undefined ? [] : [mode], [tenant])).toEqual({
      '': modeRefusal('passive', 'server.launch'),
    });
  });
});
