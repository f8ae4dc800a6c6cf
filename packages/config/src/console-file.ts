import { isIP } from 'node:net';
import {
  type FileSpec,
  type ProcessKeys,
  bool,
  checkTlsFiles,
  duration,
  integer,
  list,
  nonEmpty,
  oneOf,
  optionalPath,
  processKeys,
} from '@cmq/common';

export const CONSOLE_AUTH_MODES = ['session', 'proxy'] as const;
export type ConsoleAuthMode = (typeof CONSOLE_AUTH_MODES)[number];

export interface ConsoleConfig extends ProcessKeys {
  console: {
    enabled: boolean;
    listen: string;
    tls: { cert: string; key: string };
    session: { lifetime: number };
    login: { max_failures: number; window: number };
    auth: ConsoleAuthMode;
    proxy: { addresses: string[]; header: string };
    page_size: number;
    live: { poll_interval: number };
  };
}

/** An IPv4 or IPv6 address, or a network of either in CIDR form; throws with the reason. */
export function checkAddressOrNetwork(item: string): void {
  const [address = '', bits, ...rest] = item.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const okBits = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
  if (family === 0 || !okBits || rest.length > 0)
    throw new Error(`"${item}" is not an IP address or a network in CIDR form (e.g. 10.0.0.5, 10.0.0.0/8, ::1)`);
}

const LISTEN_RE = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** `host:port` or `[v6]:port` of `console.listen`, or why it is not one. */
export function parseListen(text: string): { host: string; port: number } | string {
  const m = LISTEN_RE.exec(text.trim());
  const port = Number(m?.[3]);
  if (m === null || !(port >= 1 && port <= 65_535))
    return `"${text}" is not host:port (e.g. 127.0.0.1:8080, [::1]:8080) with a port from 1 to 65535`;
  return { host: m[1] ?? m[2] ?? '', port };
}

function crossCheck(v: ConsoleConfig): Array<[string, string]> {
  const issues: Array<[string, string]> = [];
  const listen = parseListen(v.console.listen);
  if (typeof listen === 'string') issues.push(['console.listen', listen]);
  if ((v.console.tls.cert === '') !== (v.console.tls.key === ''))
    issues.push(['console.tls.key', 'console.tls.cert and console.tls.key are set together or not at all']);
  if (v.console.auth === 'proxy' && v.console.proxy.addresses.length === 0)
    issues.push(['console.proxy.addresses', 'must list the proxy addresses when console.auth is proxy']);
  return issues;
}

/** `console.properties` (or `console-NAME.properties` for `--instance NAME`). */
export function consoleFile(instance?: string): FileSpec<ConsoleConfig> {
  return {
    file: instance === undefined ? 'console.properties' : `console-${instance}.properties`,
    title:
      'The console process (cmq-console): the web views and JSON API, where it listens, TLS, sessions, login throttling; logs, heartbeat, shutdown.',
    envPrefix: 'CMQ_CONSOLE_',
    schema: {
      ...processKeys(instance ?? 'main'),
      console: {
        enabled: {
          doc: 'Whether /etc/init.d/cmq-workers starts the console (the systemd unit cmq-console.service is enabled on its own).',
          format: bool,
          default: false,
        },
        listen: {
          doc: 'Address and port the console listens on: host:port, or [v6]:port. Put it behind a TLS proxy or set console.tls.* before listening beyond loopback.',
          format: nonEmpty,
          default: '127.0.0.1:8080',
        },
        tls: {
          cert: {
            doc: 'PEM certificate (chain) the console serves HTTPS with; empty: plain HTTP. Set together with console.tls.key.',
            format: optionalPath,
            default: '',
          },
          key: {
            doc: 'PEM private key of console.tls.cert (unencrypted, readable by the console user only).',
            format: optionalPath,
            default: '',
          },
        },
        session: {
          lifetime: {
            doc: 'How long a login session lasts; past it the user logs in again.',
            format: duration(60_000, 30 * 24 * 3_600_000),
            default: 8 * 3_600_000,
          },
        },
        login: {
          max_failures: {
            doc: 'Failed logins allowed per user and per remote address within console.login.window; more are refused until the window passes.',
            format: integer(1, 1_000),
            default: 5,
          },
          window: {
            doc: 'The window over which console.login.max_failures is counted.',
            format: duration(1_000, 24 * 3_600_000),
            default: 15 * 60_000,
          },
        },
        auth: {
          doc: 'session: users log in with their password (or use an API token); proxy: a trusted reverse proxy names the user in console.proxy.header.',
          format: oneOf(CONSOLE_AUTH_MODES),
          default: 'session',
        },
        proxy: {
          addresses: {
            doc: 'Addresses or CIDR networks of the reverse proxies whose console.proxy.header is trusted (console.auth=proxy); the header from anyone else is ignored.',
            format: list('ip-or-cidr', checkAddressOrNetwork, 0),
            default: [],
          },
          header: {
            doc: 'Request header in which a trusted proxy names the authenticated user.',
            format: nonEmpty,
            default: 'X-Remote-User',
          },
        },
        page_size: {
          doc: 'Rows per page of the actions list and the dead list (pages follow a keyset, never an offset).',
          format: integer(10, 1_000),
          default: 50,
        },
        live: {
          poll_interval: {
            doc: 'How often each live stream (events, action states) reads new action_events rows from PostgreSQL when no notification woke it.',
            format: duration(100, 60_000),
            default: 1_000,
          },
        },
      },
    },
    crossCheck,
    checkFiles: (v) => checkTlsFiles('console.tls', { ca: '', cert: v.console.tls.cert, key: v.console.tls.key }),
  };
}
