import { defaultFamily, knownActionTypes } from '@cmq/actions';
import { ACTION_TYPES } from '@cmq/common';

describe('action type names', () => {
  it('the names module and the action definitions list the same types, each in the same queue family', () => {
    expect(knownActionTypes()).toEqual(Object.keys(ACTION_TYPES).sort());
    for (const [type, family] of Object.entries(ACTION_TYPES))
      expect({ type, family: defaultFamily(type) }).toEqual({ type, family });
  });
  it('an unknown type has no family', () => {
    expect(defaultFamily('no.such.type')).toBeUndefined();
  });
});
