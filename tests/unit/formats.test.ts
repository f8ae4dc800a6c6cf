import { backoffDelay, formatDuration, maskSecret, parseDuration } from '@cmq/common';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['30s', 30_000],
    ['30', 30_000],
    ['1.5s', 1_500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
    ['1.5d', 129_600_000],
    [' 2 s ', 2_000],
  ])('parses %j as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '5 minutes', '-1s', '1w', '1e3'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('formats milliseconds as the shortest exact text', () => {
    expect([0, 250, 1_000, 1_500, 90_000, 3_600_000, 90_000_000, 604_800_000].map(formatDuration)).toEqual([
      '0ms',
      '250ms',
      '1s',
      '1500ms',
      '90s',
      '1h',
      '25h',
      '7d',
    ]);
  });
});

describe('backoffDelay', () => {
  it('doubles from the initial delay, stays within ±20 %, and never exceeds the cap', () => {
    expect(backoffDelay(1, 100, 10_000, () => 0.5)).toBe(100);
    expect(backoffDelay(4, 100, 10_000, () => 0.5)).toBe(800);
    expect(backoffDelay(4, 100, 10_000, () => 0)).toBe(640);
    expect(backoffDelay(4, 100, 10_000, () => 1)).toBe(960);
    expect(backoffDelay(30, 100, 10_000, () => 1)).toBe(10_000);
    expect(backoffDelay(30, 100, 10_000, () => 0)).toBe(8_000);
  });
});

describe('maskSecret', () => {
  it('masks the password of a URL and keeps the host, masks anything else whole', () => {
    expect(maskSecret('amqp://u:p%40ss@h:5672/v')).toBe('amqp://u:****@h:5672/v');
    expect(maskSecret('amqp://h:5672')).toBe('amqp://h:5672');
    expect(maskSecret('hunter2')).toBe('****');
    expect(maskSecret('')).toBe('');
  });
});
