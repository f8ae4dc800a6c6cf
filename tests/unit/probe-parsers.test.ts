import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseIpmiSensor, parseProbe, parseQstatQ } from '@cmq/actions';

const fixture = (name: string): string => readFileSync(join(__dirname, '..', 'fixtures', 'probes', name), 'utf8');

describe('pbs-qstat parser (qstat -Q)', () => {
  it('parses every queue of a recorded output and keeps an odd line raw with a warning', () => {
    const { records, warnings } = parseQstatQ(fixture('qstat-Q.txt'));
    expect(records).toHaveLength(5);
    expect(records[0]).toEqual({
      queue: 'workq',
      max: 0,
      total: 12,
      enabled: true,
      started: true,
      queued: 8,
      running: 3,
      held: 1,
      waiting: 0,
      transit: 0,
      exiting: 0,
      type: 'Exec',
    });
    expect(records[1]).toMatchObject({ queue: 'batch', max: 50, enabled: true, started: false });
    expect(records[2]).toMatchObject({ queue: 'long', enabled: false, started: false, queued: 1, held: 1 });
    expect(records[3]).toMatchObject({ queue: 'routeq', type: 'Rout' });
    expect(records[4]).toEqual({ raw: 'qstat: Warning: server pbs01 is slow to respond' });
    expect(warnings).toEqual([expect.stringContaining('slow to respond')]);
  });

  it('never throws: empty output, garbage, a row with a non-number count or bad yes/no', () => {
    expect(parseQstatQ('')).toEqual({ records: [], warnings: [] });
    const odd = parseQstatQ('workq 0 x yes yes 0 0 0 0 0 0 Exec\nq 0 0 maybe yes 0 0 0 0 0 0 Exec\n\u0000\u00ff|||\n');
    expect(odd.records).toEqual([
      { raw: 'workq 0 x yes yes 0 0 0 0 0 0 Exec' },
      { raw: 'q 0 0 maybe yes 0 0 0 0 0 0 Exec' },
      { raw: '\u0000\u00ff|||' },
    ]);
    expect(odd.warnings).toHaveLength(3);
  });
});

describe('ipmi-sensor parser (ipmitool sensor)', () => {
  it('parses values, units, statuses and the six thresholds; na is null; an error line stays raw', () => {
    const { records, warnings } = parseIpmiSensor(fixture('ipmitool-sensor.txt'));
    expect(records).toHaveLength(9);
    expect(records[0]).toEqual({
      name: 'CPU Temp',
      value: 42,
      unit: 'degrees C',
      status: 'ok',
      thresholds: { lnr: 0, lcr: 0, lnc: 0, unc: 95, ucr: 100, unr: 100 },
    });
    expect(records[1]).toMatchObject({ name: 'System Temp', thresholds: { lnr: -10, lcr: -5 } });
    expect(records[3]).toEqual({
      name: 'FAN2',
      value: null,
      unit: 'RPM',
      status: 'na',
      thresholds: { lnr: null, lcr: null, lnc: null, unc: null, ucr: null, unr: null },
    });
    expect(records[4]).toMatchObject({ name: '12V', value: 12.192, unit: 'Volts' });
    expect(records[5]).toMatchObject({ name: 'PS1 Status', value: 1, unit: 'discrete', status: '0x0100' });
    expect(records[7]).toEqual({ raw: 'Get HPM.x Capabilities request failed, compcode = c9' });
    expect(records[8]).toMatchObject({ name: 'VBAT', value: 2.9, status: 'lnc', thresholds: { lnc: 3, unc: null } });
    expect(warnings).toEqual([expect.stringContaining('compcode = c9')]);
  });

  it('a short row or a non-number value is raw, not a crash', () => {
    const { records, warnings } = parseIpmiSensor(
      'FAN3 | 100 | RPM | ok\nTemp | hot | C | ok | na | na | na | na | na | na\n',
    );
    expect(records).toEqual([
      { raw: 'FAN3 | 100 | RPM | ok' },
      { raw: 'Temp | hot | C | ok | na | na | na | na | na | na' },
    ]);
    expect(warnings).toHaveLength(2);
  });

  it('parses ipmitool -c (CSV), as captured from ipmitool 1.8.19 against ipmi_sim, like the padded output', () => {
    const { records, warnings } = parseIpmiSensor(fixture('ipmitool-c-sensor.txt'));
    expect(warnings).toEqual([]);
    expect(records).toEqual([
      {
        name: 'CPU Temp',
        value: 45,
        unit: 'degrees C',
        status: 'ok',
        thresholds: { lnr: null, lcr: null, lnc: null, unc: 70, ucr: 80, unr: 90 },
      },
      {
        name: 'Fan 1',
        value: 4800,
        unit: 'RPM',
        status: 'ok',
        thresholds: { lnr: 500, lcr: 1000, lnc: null, unc: null, ucr: null, unr: null },
      },
      {
        name: 'PSU Temp',
        value: 85,
        unit: 'degrees C',
        status: 'cr',
        thresholds: { lnr: null, lcr: null, lnc: null, unc: 70, ucr: 80, unr: 90 },
      },
    ]);
    expect(parseIpmiSensor('CPU Temp,45.000,degrees C,ok\n').records).toEqual([
      { raw: 'CPU Temp,45.000,degrees C,ok' },
    ]);
  });
});

describe('command probe', () => {
  it('keeps the raw output as one record', () => {
    expect(parseProbe('command', 'up 3 days\n')).toEqual({ records: [{ output: 'up 3 days\n' }], warnings: [] });
  });
});
