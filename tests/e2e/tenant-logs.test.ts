import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/config-dir';
import { ROOT, spawnBin } from '../helpers/process';

/** A writer process using the built logging module: N lines about tenant acme, ~1 KiB each. */
const WRITER = `
const { createLogging } = require(${JSON.stringify(join(ROOT, 'packages/common/dist'))});
const [dir, name, count] = process.argv.slice(2);
const logging = createLogging({ dir, service: 'subscriber', name, level: 'info' });
const log = logging.logger.child({ tenant: 'acme' });
const pad = 'x'.repeat(1000);
for (let i = 0; i < Number(count); i += 1) log.info({ i, writer: name, pad }, 'line');
logging.close().then(() => process.exit(0));
`;

describe('tenant log files shared by several processes', () => {
  it('never interleave lines: every line of the shared file is whole JSON, none lost', async () => {
    const dir = tempDir();
    const script = join(tempDir(), 'writer.js');
    writeFileSync(script, WRITER);
    const count = 20_000;
    const writers = ['w1', 'w2', 'w3'].map((name) => spawnBin(script, [dir, name, String(count)]));
    for (const w of writers) expect(await w.exitCode(60_000)).toBe(0);

    const lines = readFileSync(join(dir, 'tenants', 'acme.log'), 'utf8')
      .split('\n')
      .filter(Boolean);
    const parsed = lines.map((l) => JSON.parse(l) as { writer: string; i: number });
    expect(parsed).toHaveLength(3 * count);
    for (const name of ['w1', 'w2', 'w3']) {
      const seq = parsed.filter((p) => p.writer === name).map((p) => p.i);
      expect(seq).toEqual(Array.from({ length: count }, (_, i) => i));
    }
  });
});
