import { MODES, knownActionTypes, modeAllows, modeRefusal } from '@cmq/actions';

describe('operating modes', () => {
  const monitoring = ['ping', 'noop', 'sync.servers', 'sync.budget', 'guest.exec', 'guest.logs.collect', 'host.probe'];
  it('every mode allows monitoring; node.* from static; server.* only in dynamic', () => {
    for (const mode of MODES)
      for (const type of monitoring)
        expect({ mode, type, ok: modeAllows(mode, type) }).toEqual({ mode, type, ok: true });
    expect(MODES.map((m) => modeAllows(m, 'node.start'))).toEqual([false, true, true]);
    expect(MODES.map((m) => modeAllows(m, 'server.launch'))).toEqual([false, false, true]);
    expect(modeAllows('dynamic', 'something.else')).toBe(false);
  });
  it('the refusal names the file, the key, the mode, the type and the mode needed', () => {
    expect(modeRefusal('passive', 'server.launch')).toBe(
      'provisioning.cfg mode=passive refuses server.launch (provisioning actions need mode=dynamic)',
    );
    expect(modeRefusal('passive', 'node.stop')).toBe(
      'provisioning.cfg mode=passive refuses node.stop (node and bare-metal actions need mode=static or mode=dynamic)',
    );
    expect(modeRefusal('dynamic', 'server.reboot')).toBeUndefined();
  });
  it('every known action type is allowed by some mode', () => {
    for (const type of knownActionTypes())
      expect({ type, ok: modeAllows('dynamic', type) }).toEqual({ type, ok: true });
  });
});
