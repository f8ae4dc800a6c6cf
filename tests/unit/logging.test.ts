import { existsSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { createLogging } from '@cmq/common';
import { tempDir } from '../helpers/config-dir';
import { waitFor } from '../helpers/wait';

function lines(file: string): Array<Record<string, unknown>> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('logging', () => {
  it('writes every line to the process file and tenant lines to that tenant file only', async () => {
    const dir = tempDir();
    const logging = createLogging({ dir, service: 'subscriber', name: 'a', level: 'info' });
    const acme = logging.logger.child({ component: 'x', tenant: 'acme' });
    acme.info({ action: 1 }, 'acme did something');
    logging.logger.child({ tenant: 'globex' }).warn('globex too');
    logging.logger.info('a message quoting "tenant":"evil" is not about a tenant');
    logging.logger.child({ tenant: '../../etc/passwd' }).info('bad tenant id stays in the main file');
    logging.logger.debug({ tenant: 'acme' }, 'below the level');
    await logging.close();

    expect(lines(join(dir, 'subscriber-a.log')).map((l) => l.msg)).toEqual([
      'acme did something',
      'globex too',
      'a message quoting "tenant":"evil" is not about a tenant',
      'bad tenant id stays in the main file',
    ]);
    expect(lines(join(dir, 'tenants', 'acme.log'))).toEqual([
      expect.objectContaining({
        msg: 'acme did something',
        tenant: 'acme',
        service: 'subscriber',
        level: 'info',
        action: 1,
      }),
    ]);
    expect(lines(join(dir, 'tenants', 'globex.log')).map((l) => l.msg)).toEqual(['globex too']);
    expect(existsSync(join(dir, 'tenants', 'evil.log'))).toBe(false);
  });

  it('redacts secrets by path', async () => {
    const dir = tempDir();
    const logging = createLogging({ dir, service: 'publisher', name: 'main', level: 'info' });
    logging.logger.info(
      {
        password: 'pw-1',
        db: { password: 'pw-2' },
        account: { credentials: { key: 'pw-3' } },
        privateKey: 'pw-4',
        creds: { ssh_private_key: 'pw-5' },
      },
      'connecting',
    );
    await logging.close();
    const text = readFileSync(join(dir, 'publisher-main.log'), 'utf8');
    expect(text).not.toMatch(/pw-\d/);
    expect(lines(join(dir, 'publisher-main.log'))[0]).toMatchObject({
      password: '[redacted]',
      db: { password: '[redacted]' },
      account: { credentials: '[redacted]' },
    });
  });

  it('reopen() after a rename starts new files and loses no line', async () => {
    const dir = tempDir();
    const logging = createLogging({ dir, service: 'pinger', name: 'main', level: 'info' });
    const log = logging.logger.child({ tenant: 'acme' });
    log.info('before');
    await waitFor(
      () => existsSync(join(dir, 'tenants', 'acme.log')) && existsSync(join(dir, 'pinger-main.log')),
      5_000,
      'the log files',
    );
    logging.flushSync();
    renameSync(join(dir, 'pinger-main.log'), join(dir, 'pinger-main.log.1'));
    renameSync(join(dir, 'tenants', 'acme.log'), join(dir, 'tenants', 'acme.log.1'));
    logging.reopen();
    log.info('after');
    await logging.close();
    expect(lines(join(dir, 'pinger-main.log.1')).map((l) => l.msg)).toEqual(['before']);
    expect(lines(join(dir, 'pinger-main.log')).map((l) => l.msg)).toEqual(['after']);
    expect(lines(join(dir, 'tenants', 'acme.log.1')).map((l) => l.msg)).toEqual(['before']);
    expect(lines(join(dir, 'tenants', 'acme.log')).map((l) => l.msg)).toEqual(['after']);
  });
});
