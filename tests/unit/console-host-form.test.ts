import { fieldOf } from '@cmq/console/src/acts/host-form';

/** The console's node and guest forms: what a browser sends, as the CLI would have given it. */
describe('host form fields', () => {
  it('a textarea sent with CRLF line ends reads as the LF text the node stores', () => {
    // A browser submits every line break of a textarea as CRLF (HTML's form encoding).
    const stored = 'cd /srv/worker\nexec ./start.sh';
    const sent = { startCmd: 'cd /srv/worker\r\nexec ./start.sh\r\n', stopCmd: 'a\rb' };
    expect(fieldOf(sent, 'startCmd')).toBe(stored);
    expect(fieldOf(sent, 'startCmd')).not.toContain('\r');
    expect(fieldOf(sent, 'stopCmd')).toBe('a\nb');
  });

  it('trims, and gives an empty text for an absent field', () => {
    expect(fieldOf({ address: '  10.0.0.1 ' }, 'address')).toBe('10.0.0.1');
    expect(fieldOf({}, 'address')).toBe('');
  });
});
