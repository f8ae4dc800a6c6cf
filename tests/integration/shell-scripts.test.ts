import { join } from 'node:path';
import { REPO, run } from '../helpers/scripts';

/** The operations scripts run under /bin/sh (dash on Debian) as root: keep them clean. */
const SCRIPTS = ['scripts/install.sh', 'scripts/backup.sh', 'scripts/restore.sh', 'init/cmq-workers'];
/** The set-up scripts (the README's two commands and what they call) are bash. */
const BASH_SCRIPTS = ['scripts/up.sh', 'scripts/setup-deps.sh', 'scripts/npm-install.sh', 'scripts/test.sh'];

/** shellcheck, installing Debian's package when it is missing (never skip). */
async function ensureShellcheck(): Promise<void> {
  if ((await run('sh', ['-c', 'command -v shellcheck'])).code === 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await run('apt-get', ['update', '-q'], { env, timeoutMs: 300_000 });
  if (update.code !== 0) throw new Error(`apt-get update failed: ${update.stderr}`);
  const install = await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'shellcheck'], {
    env,
    timeoutMs: 300_000,
  });
  if (install.code !== 0) throw new Error(`apt-get install shellcheck failed: ${install.stderr}`);
}

describe('operations shell scripts', () => {
  beforeAll(ensureShellcheck, 600_000);

  const shells = [
    ...SCRIPTS.map((script) => [script, 'dash', 'sh']),
    ...BASH_SCRIPTS.map((script) => [script, 'bash', 'bash']),
  ];
  it.each(shells)('%s parses under %s and is shellcheck-clean', async (script, parser, dialect) => {
    const path = join(REPO, script);
    const syntax = await run(parser, ['-n', path]);
    expect(syntax.stderr).toBe('');
    expect(syntax.code).toBe(0);
    const check = await run('shellcheck', [`--shell=${dialect}`, '--severity=style', path]);
    expect(check.stdout).toBe('');
    expect(check.code).toBe(0);
  });

  it('the init script carries an LSB header that names every action it handles', async () => {
    const r = await run('sed', [
      '-n',
      '/^### BEGIN INIT INFO$/,/^### END INIT INFO$/p',
      join(REPO, 'init', 'cmq-workers'),
    ]);
    for (const field of [
      'Provides:',
      'Required-Start:',
      'Required-Stop:',
      'Default-Start:',
      'Default-Stop:',
      'Short-Description:',
    ]) {
      expect(r.stdout).toContain(`# ${field}`);
    }
    const usage = await run(join(REPO, 'init', 'cmq-workers'), [], {
      env: { ...process.env, CMQ_DEFAULTS: '/dev/null' },
    });
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('{start|stop|restart|reload|force-reload|status}');
  });
});
