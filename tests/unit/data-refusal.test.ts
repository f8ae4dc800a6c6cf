import { isDataRefusal } from '@cmq/common';

describe('isDataRefusal: errors that would fail the same way at every retry', () => {
  it('is true for PostgreSQL refusing the data (classes 22 and 23), false for what passes (connections, restarts, conflicts, wraparound protection)', () => {
    for (const code of ['22P05', '22021', '23505', '23503'])
      expect([code, isDataRefusal({ code })]).toEqual([code, true]);
    for (const code of ['57P01', '08006', '40001', '40P01', '53300', '54000', 'ECONNRESET', '2', '220000'])
      expect([code, isDataRefusal({ code })]).toEqual([code, false]);
    expect(isDataRefusal(new Error('plain'))).toBe(false);
    expect(isDataRefusal(null)).toBe(false);
    expect(isDataRefusal(undefined)).toBe(false);
  });
});
