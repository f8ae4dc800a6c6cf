import { ConfigError, loadFiles } from '@cmq/common';
import { checkAddressOrNetwork, consoleFile, parseListen } from '@cmq/config';
import { tempDir, writeConfig } from '../helpers/config-dir';

function load(values: Record<string, string>, env: Record<string, string> = {}): unknown {
  const spec = consoleFile();
  const dir = writeConfig({ 'console.properties': values }, tempDir());
  return loadFiles(dir, [spec], env).get(spec.file)?.value;
}

function problem(values: Record<string, string>): string {
  try {
    load(values);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('loaded without a problem');
}

describe('console.properties', () => {
  it('has the contract defaults, and environment overrides', () => {
    expect(load({})).toMatchObject({
      console: {
        enabled: false,
        listen: '127.0.0.1:8080',
        tls: { cert: '', key: '' },
        session: { lifetime: 8 * 3_600_000 },
        login: { max_failures: 5, window: 15 * 60_000 },
        auth: 'session',
        proxy: { addresses: [], header: 'X-Remote-User' },
      },
    });
    expect(load({}, { CMQ_CONSOLE_CONSOLE_LISTEN: '[::1]:9090', CMQ_CONSOLE_CONSOLE_ENABLED: 'yes' })).toMatchObject({
      console: { enabled: true, listen: '[::1]:9090' },
    });
  });

  it('names the key of each bad value', () => {
    expect(problem({ 'console.listen': 'localhost' })).toContain('console.listen');
    expect(problem({ 'console.listen': '127.0.0.1:70000' })).toContain('console.listen');
    expect(problem({ 'console.tls.cert': '/etc/ssl/x.pem' })).toContain('console.tls');
    expect(problem({ 'console.auth': 'proxy' })).toContain('console.proxy.addresses');
    expect(problem({ 'console.proxy.addresses': '10.0.0.0/33' })).toContain('console.proxy.addresses');
    expect(problem({ 'console.session.lifetime': '10s' })).toContain('console.session.lifetime');
  });

  it('parses listen addresses and proxy networks', () => {
    expect(parseListen('0.0.0.0:80')).toEqual({ host: '0.0.0.0', port: 80 });
    expect(parseListen('[::1]:8080')).toEqual({ host: '::1', port: 8080 });
    expect(parseListen('host.example:443')).toEqual({ host: 'host.example', port: 443 });
    expect(typeof parseListen(':8080')).toBe('string');
    for (const ok of ['10.0.0.5', '10.0.0.0/8', '::1', 'fd00::/8'])
      expect(() => checkAddressOrNetwork(ok)).not.toThrow();
    for (const bad of ['10.0.0', 'fd00::/129', 'proxy.example', '10.0.0.0/8/1'])
      expect(() => checkAddressOrNetwork(bad)).toThrow(/not an IP address/);
  });
});
