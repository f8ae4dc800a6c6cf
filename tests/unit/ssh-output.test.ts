import { LineTap, PgidSniffer, type SshOutputListener } from '@cmq/common';

function recorder(): { seen: string[]; listener: SshOutputListener } {
  const seen: string[] = [];
  return { seen, listener: { line: (s, t) => seen.push(`${s}:${t}`), truncated: (s) => seen.push(`${s}!`) } };
}

describe('PgidSniffer', () => {
  it('removes the tagged line, wherever it comes, and passes every other byte in order', async () => {
    const out: Buffer[] = [];
    const sniffer = new PgidSniffer('abc', (d) => out.push(d));
    sniffer.push(Buffer.from('motd from .bashrc\ncmq-pg'));
    sniffer.push(Buffer.from('id:abc:4242\nhello\n'));
    sniffer.push(Buffer.from('more'));
    sniffer.end();
    expect(await sniffer.group).toBe(4242);
    expect(Buffer.concat(out).toString()).toBe('motd from .bashrc\nhello\nmore');
  });

  it('a line with another nonce is output, not a process group', async () => {
    const out: Buffer[] = [];
    const sniffer = new PgidSniffer('abc', (d) => out.push(d));
    sniffer.push(Buffer.from('cmq-pgid:xyz:1\n'));
    sniffer.end();
    expect(await sniffer.group).toBeUndefined();
    expect(Buffer.concat(out).toString()).toBe('cmq-pgid:xyz:1\n');
  });

  it('gives up after 16 KiB without the line and passes everything', async () => {
    const out: Buffer[] = [];
    const sniffer = new PgidSniffer('abc', (d) => out.push(d));
    sniffer.push(Buffer.alloc(20_000, 'a'));
    expect(await sniffer.group).toBeUndefined();
    expect(Buffer.concat(out).length).toBe(20_000);
  });
});

describe('LineTap', () => {
  it('splits chunks into lines, drops a CR before LF, passes a last line without newline at end', () => {
    const { seen, listener } = recorder();
    const tap = new LineTap('stdout', 100, listener);
    tap.push(Buffer.from('a'));
    tap.push(Buffer.from('b\r\nc\n\nd'));
    expect(seen).toEqual(['stdout:ab', 'stdout:c', 'stdout:']);
    tap.end();
    expect(seen).toEqual(['stdout:ab', 'stdout:c', 'stdout:', 'stdout:d']);
  });

  it('stops at the cap: the cut line up to the cap, one truncation, nothing after', () => {
    const { seen, listener } = recorder();
    const tap = new LineTap('stderr', 8, listener);
    tap.push(Buffer.from('1234\n'));
    tap.push(Buffer.from('5678\n9'));
    tap.push(Buffer.from('more\n'));
    tap.end();
    expect(seen).toEqual(['stderr:1234', 'stderr:567', 'stderr!']);
  });

  it('output exactly at the cap is not truncated', () => {
    const { seen, listener } = recorder();
    const tap = new LineTap('stdout', 4, listener);
    tap.push(Buffer.from('abc\n'));
    tap.end();
    expect(seen).toEqual(['stdout:abc']);
  });
});
