/** Bytes of a dead message's body shown as text, or dumped in hex when it is not text. */
const TEXT_BYTES = 4 * 1024;
const HEX_BYTES = 512;

/** Control characters other than tab, newline and carriage return (and C1 controls, DEL): a body holding them is dumped in hex, never sent to a terminal. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL_RE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]/;

/** The first bytes as UTF-8 text, or undefined when they are not printable UTF-8. */
function asText(bytes: Buffer): string | undefined {
  try {
    // stream: a multi-byte character cut at the end is left out rather than refused
    const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: true });
    return CONTROL_RE.test(text) ? undefined : text;
  } catch {
    return undefined;
  }
}

/** `00000000  7b 22 69 64 ...  |{"id...|` lines. */
function hexDump(bytes: Buffer): string {
  const lines: string[] = [];
  for (let offset = 0; offset < bytes.length; offset += 16) {
    const chunk = bytes.subarray(offset, offset + 16);
    const hex = [...chunk].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const ascii = [...chunk].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${offset.toString(16).padStart(8, '0')}  ${hex.padEnd(47)}  |${ascii}|`);
  }
  return lines.join('\n');
}

/**
 * A message body safe to print on a terminal: printable UTF-8 text cut to a few KB, otherwise a
 * hex dump of its start. `totalBytes` is the size the message had (the stored body may be cut).
 */
export function renderBody(body: Buffer, totalBytes: number): string {
  const text = asText(body.subarray(0, TEXT_BYTES));
  const shown = text === undefined ? Math.min(body.length, HEX_BYTES) : Buffer.byteLength(text);
  const rendered = text ?? hexDump(body.subarray(0, shown));
  const kind = text === undefined ? 'not printable text, hex dump' : 'text';
  const more = totalBytes > shown ? `, first ${shown} of ${totalBytes} bytes` : '';
  return `body (${kind}${more}):\n${rendered}\n`;
}
