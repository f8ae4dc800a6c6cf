/**
 * `text` with every control character but tab and newline (C0, DEL, C1) written as `\u001b`:
 * what tenants' hosts, providers and messages sent is printed to an operator's terminal, and an
 * escape sequence in it must not reach the terminal as one (retitling it, rewriting the screen).
 */
export function printable(text: string): string {
  return text.replace(
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** One line, at most `max` characters (the rest replaced by `…`), control characters shown escaped. */
export function oneLine(text: string | null | undefined, max: number): string {
  if (text === null || text === undefined || text === '') return '-';
  const flat = printable(text.replace(/\s+/g, ' '));
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
