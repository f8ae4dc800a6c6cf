import { guestProblems, hostFieldProblems, nodeProblems, privateKeyProblem, quotedValue } from '@cmq/actions';

const KEY =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n';
const PIN = `SHA256:${'A'.repeat(43)}`;

describe('host fields: one set of rules for nodes and guests, CLI and console', () => {
  it('accepts what operators give: addresses, names, ports, users, pins', () => {
    for (const address of ['127.0.0.1', 'db-1.example.com', '::1', 'fe80::1'])
      expect(hostFieldProblems({ address, port: 22, user: 'ec2-user', hostKey: PIN })).toEqual({});
  });

  it('names each bad field, never quoting what was given', () => {
    const problems = hostFieldProblems({ address: KEY, port: 70000, user: '-x', hostKey: KEY });
    expect(Object.keys(problems)).toEqual(['address', 'port', 'user', 'hostKey']);
    for (const message of Object.values(problems)) expect(message).not.toContain('b3Blbn');
    expect(hostFieldProblems({ port: Number.NaN }).port).toBe('port: an integer from 1 to 65535');
  });

  it('node commands: not empty, no NUL, bounded; a pasted key as a name is not echoed', () => {
    expect(nodeProblems({ startCmd: ' ', stopCmd: 'a\0b', statusCmd: 'x'.repeat(5000) })).toEqual({
      startCmd: 'start command: give a shell command',
      stopCmd: 'stop command: a NUL character cannot be sent as a command',
      statusCmd: 'status command: at most 4096 characters',
    });
    expect(nodeProblems({ name: KEY }).name).toMatch(/^node name \(\d+ characters\): use 1-63/);
    expect(nodeProblems({ name: 'Bad' }).name).toMatch(/^node name "Bad": /);
    expect(quotedValue('web1')).toBe('"web1"');
  });

  it('guests: id and log paths too', () => {
    expect(guestProblems({ id: 'web1', address: '10.0.0.1', port: 22, user: 'root', logPaths: ['rel.log'] })).toEqual({
      logPaths: 'log path "rel.log" is not absolute (it must start with /)',
    });
    expect(Object.keys(guestProblems({ id: '', address: 'a b', port: 22, user: 'root' }))).toEqual(['id', 'address']);
  });

  it('a private key is recognised by its armour', () => {
    expect(privateKeyProblem(KEY)).toBeUndefined();
    expect(privateKeyProblem(Buffer.from('ssh-ed25519 AAAA public'))).toMatch(/not a PEM or OpenSSH private key/);
  });
});
