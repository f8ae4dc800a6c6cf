import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { actionLogLines } from '@cmq/console/src/tenant-log';
import { tempDir } from '../helpers/config-dir';

/** The action page reads only the end of a tenant log (it can be gigabytes), never the whole file. */
describe('actionLogLines', () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'tenants'));
  const line = (n: number, action: string): string =>
    `${JSON.stringify({ time: n, level: 30, service: 'subscriber', name: 'main', msg: `line ${n}`, action })}\n`;
  // 300 lines of action 7, then 100 of action 8: about 95 bytes each.
  const lines = [
    ...Array.from({ length: 300 }, (_, i) => line(i, '7')),
    ...Array.from({ length: 100 }, (_, i) => line(300 + i, '8')),
  ];
  writeFileSync(join(dir, 'tenants', 'ta.log'), lines.join(''));
  const size = lines.join('').length;

  it('reads the whole of a small file', async () => {
    const all = await actionLogLines(dir, 'ta', '7', { max: 1000 });
    expect(all.skipped).toBe(0);
    expect(all.lines).toHaveLength(300);
  });

  it('reads only the last tailBytes, dropping the partial first line, and says how much it skipped', async () => {
    const tail = 20 * (lines.at(-1) ?? '').length + 10;
    const read = await actionLogLines(dir, 'ta', '8', { tailBytes: tail });
    expect(read.skipped).toBe(size - tail);
    expect(read.lines.map((l) => l.msg)).toEqual(Array.from({ length: 20 }, (_, i) => `line ${380 + i}`));
    expect((await actionLogLines(dir, 'ta', '7', { tailBytes: tail })).lines).toEqual([]);
  });

  it('gives nothing for a missing file or a tenant that is not an id', async () => {
    expect(await actionLogLines(dir, 'tb', '7')).toEqual({ lines: [], skipped: 0 });
    expect(await actionLogLines(dir, '../ta', '7')).toEqual({ lines: [], skipped: 0 });
  });
});
