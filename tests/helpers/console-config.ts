import type { ConsoleConfig } from '@cmq/config';

/** console.properties' `console` settings as tests use them (an ephemeral port, session auth), with `over` applied. */
export function testConsoleConfig(over: Partial<ConsoleConfig['console']> = {}): ConsoleConfig['console'] {
  return {
    enabled: true,
    listen: '127.0.0.1:0',
    tls: { cert: '', key: '' },
    session: { lifetime: 3_600_000 },
    login: { max_failures: 5, window: 15 * 60_000 },
    auth: 'session',
    proxy: { addresses: [], header: 'X-Remote-User' },
    page_size: 50,
    live: { poll_interval: 1_000 },
    ...over,
  };
}
