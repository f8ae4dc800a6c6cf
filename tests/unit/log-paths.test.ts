import { checkArgs, checkLogPaths, logPathProblem } from '@cmq/actions';
import { ConfigError, loadFiles } from '@cmq/common';
import { publisherFile } from '@cmq/config';
import { tempDir } from '../helpers/config-dir';

const PATHS = [
  '/var/log/app.log',
  'relative/x.log',
  '/var/log/',
  '/var/log/../../etc/shadow',
  '/var/./log/x',
  '/var/log/a\rb',
  '/var/log/a\nb',
  `/${'a'.repeat(4100)}`,
  `/${'é'.repeat(512)}`,
  `/${'a'.repeat(1023)}`,
];

function accepts(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof Error) return false;
    throw err;
  }
}

describe('remote log paths', () => {
  it('one rule: guest.logs.collect arguments, cmq guests add --log-paths and publisher.properties logs.paths agree', () => {
    for (const path of PATHS) {
      const rule = logPathProblem(path) === undefined;
      const action = checkArgs('guest.logs.collect', { guest: 'web1', paths: [path] }).ok;
      const guests = accepts(() => checkLogPaths([path]));
      let publisher = true;
      try {
        loadFiles(tempDir(), [publisherFile()], { CMQ_PUBLISHER_LOGS_PATHS: path });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        expect(err.message).toContain('logs.paths');
        publisher = false;
      }
      expect({ path, action, guests, publisher }).toEqual({ path, action: rule, guests: rule, publisher: rule });
    }
    // 1,024 bytes at most (é is two): the path is part of an index key in PostgreSQL.
    expect(PATHS.filter((p) => logPathProblem(p) === undefined)).toEqual(['/var/log/app.log', `/${'a'.repeat(1023)}`]);
    expect(logPathProblem(`/${'é'.repeat(512)}`)).toBe('is longer than 1024 bytes');
  });

  it('the refusal says what is wrong with the path', () => {
    const res = checkArgs('guest.logs.collect', { guest: 'web1', paths: ['/var/log/a\rb'] });
    expect(res.ok ? '' : res.error).toBe(
      'args.paths.0: an absolute path of a file on the guest, and this one contains a NUL or line break',
    );
  });
});
