import { generateKeyPairSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { CmqError, SshClient, type SshSettings, type SshTarget } from '@cmq/common';
import { Server } from 'ssh2';
import { tempDir } from '../helpers/config-dir';
import { rejection } from '../helpers/rejection';
import { makeKeyPair } from '../helpers/sshd';

// A real SSH server on loopback (ssh2's server side) that logs the client in and answers its
// keepalives, but never answers the session request (`silent: 'session'`) or accepts the session
// and never answers the exec request (`silent: 'exec'`): a hung PAM module or home directory
// looks like this from the client.
let server: Server;
let port = 0;
let silent: 'session' | 'exec' = 'session';
const hostKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
}).privateKey;

beforeAll(async () => {
  server = new Server({ hostKeys: [hostKey] }, (conn) => {
    conn.on('authentication', (ctx) => (ctx.method === 'publickey' ? ctx.accept() : ctx.reject(['publickey'])));
    conn.on('ready', () => {
      conn.on('session', (accept) => {
        if (silent === 'session') return; // neither accepted nor rejected
        accept().on('exec', () => undefined); // accepted, the exec never answered
      });
    });
    conn.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const settings: SshSettings = {
  SOURCE_CIDR: ['127.0.0.0/8'],
  ssh: {
    strict_host_keys: false,
    connect_timeout: 5_000,
    keepalive_interval: 1_000,
    command_timeout: 10_000,
    output_cap: 4096,
    per_host_limit: 1,
  },
};

const clientKey = makeKeyPair(tempDir('cmq-silent-ssh-'), 'client');

function target(): SshTarget {
  const key = clientKey;
  return {
    host: '127.0.0.1',
    port,
    username: 'anyone',
    privateKey: Buffer.from(key.privateKey),
    hostKey: { trustOnFirstUse: true, strict: false },
  };
}

describe('a server that never starts the command', () => {
  it.each(['session', 'exec'] as const)(
    'no answer to the %s request: the command timeout still ends it, the connection is dropped, the host slot freed',
    async (mode) => {
      silent = mode;
      const ssh = new SshClient(settings);
      try {
        const started = Date.now();
        const err = await rejection(ssh.exec(target(), 'echo never', { timeoutMs: 800 }), CmqError);
        expect(err).toMatchObject({ code: 'CMQ_ERR_SSH_CONNECT', transient: true });
        expect(err.message).toBe(
          'the server did not start the command within 0.8 s (no answer to the session or exec request); connection dropped',
        );
        expect(Date.now() - started).toBeLessThan(5_000);
        // per_host_limit is 1: a second command gets the slot back (and its own timeout), it is not queued behind the first for ever.
        const abort = new AbortController();
        setTimeout(() => abort.abort(), 500);
        const aborted = await rejection(
          ssh.exec(target(), 'echo never', { timeoutMs: 60_000, signal: abort.signal }),
          CmqError,
        );
        expect(aborted).toMatchObject({ code: 'CMQ_ERR_ABORTED', transient: true });
        expect(Date.now() - started).toBeLessThan(8_000);
      } finally {
        ssh.close();
      }
    },
  );
});
