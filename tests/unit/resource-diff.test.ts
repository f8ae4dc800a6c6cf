import { canonicalJson, diffFields, diffResources, normalizeState, syncRunKey } from '@cmq/actions';

const web = {
  id: 'i-1',
  name: 'web',
  state: 'running',
  image: 'ami-1',
  size: 't3.micro',
  addresses: { public: ['203.0.113.1'], private: ['10.0.0.1'] },
};

describe('resource diff', () => {
  it('canonical JSON ignores key order and undefined fields', () => {
    expect(canonicalJson({ b: 1, a: { d: 2, c: undefined, b: [3, { y: 1, x: 2 }] } })).toBe(
      '{"a":{"b":[3,{"x":2,"y":1}],"d":2},"b":1}',
    );
  });

  it('created, changed (field level, old and new), gone, unchanged', () => {
    const stored = new Map([
      ['i-1', normalizeState(web)],
      ['i-2', normalizeState({ ...web, id: 'i-2', name: 'db' })],
      ['i-3', normalizeState({ ...web, id: 'i-3', name: 'old' })],
    ]);
    const listed = new Map([
      ['i-1', normalizeState({ ...web, addresses: { private: ['10.0.0.1'], public: ['203.0.113.1'] } })], // same, other key order
      [
        'i-2',
        normalizeState({ ...web, id: 'i-2', name: 'db2', state: 'terminated', launchedAt: '2024-05-01T00:00:00Z' }),
      ],
      ['i-4', normalizeState({ ...web, id: 'i-4', state: 'pending' })],
    ]);
    const diff = diffResources(stored, listed);
    expect(diff.unchanged).toBe(1);
    expect(diff.created).toEqual([{ id: 'i-4', state: normalizeState({ ...web, id: 'i-4', state: 'pending' }) }]);
    expect(diff.gone.map((g) => g.id)).toEqual(['i-3']);
    expect(diff.gone[0]?.state.name).toBe('old');
    expect(diff.changed).toHaveLength(1);
    expect(diff.changed[0]?.id).toBe('i-2');
    expect(diff.changed[0]?.fields).toEqual({
      launchedAt: { old: null, new: '2024-05-01T00:00:00Z' },
      name: { old: 'db', new: 'db2' },
      state: { old: 'running', new: 'terminated' },
    });
  });

  it('a terminated server still listed is a change of state, not gone', () => {
    const diff = diffResources(
      new Map([['i-1', normalizeState(web)]]),
      new Map([['i-1', normalizeState({ ...web, state: 'terminated' })]]),
    );
    expect(diff.gone).toEqual([]);
    expect(diff.changed[0]?.fields).toEqual({ state: { old: 'running', new: 'terminated' } });
  });

  it('nested fields are compared whole; a field that disappears becomes null', () => {
    expect(diffFields({ addresses: { public: ['a'] }, x: 1 }, { addresses: { public: ['b'] } })).toEqual({
      addresses: { old: { public: ['a'] }, new: { public: ['b'] } },
      x: { old: 1, new: null },
    });
    expect(diffFields({ a: [1, 2] }, { a: [1, 2] })).toEqual({});
  });

  it('firewall rules and their sources in another order are no change', () => {
    const a = normalizeState({
      id: 'sg-1',
      name: 'web',
      rules: [
        { direction: 'ingress', protocol: 'tcp', fromPort: 80, toPort: 80, sources: ['10.0.0.0/8', '0.0.0.0/0'] },
        { direction: 'egress', protocol: 'all', sources: ['0.0.0.0/0'] },
      ],
    });
    const b = normalizeState({
      name: 'web',
      id: 'sg-1',
      rules: [
        { protocol: 'all', direction: 'egress', sources: ['0.0.0.0/0'] },
        { sources: ['0.0.0.0/0', '10.0.0.0/8'], toPort: 80, fromPort: 80, protocol: 'tcp', direction: 'ingress' },
      ],
    });
    expect(diffFields(a, b)).toEqual({});
    const c = normalizeState({
      id: 'sg-1',
      name: 'web',
      rules: [{ direction: 'egress', protocol: 'all', sources: ['0.0.0.0/0'] }],
    });
    expect(Object.keys(diffFields(a, c))).toEqual(['rules']);
  });

  it('nothing stored and nothing listed: nothing', () => {
    expect(diffResources(new Map(), new Map())).toEqual({ created: [], changed: [], gone: [], unchanged: 0 });
  });

  it('run keys name the account, the kind and the planned time', () => {
    expect(syncRunKey('7', 'servers', new Date('2024-05-01T12:00:00.250Z'))).toBe(
      'sync:7:servers:2024-05-01T12:00:00.250Z',
    );
  });
});
