// eslint-disable-next-line no-restricted-imports -- auth's own helpers; @cmq/console's index is the service
import { safeNext } from '../../services/console/src/auth/request-info';

describe('safeNext: where a login returns to', () => {
  test.each([
    ['/actions?state=dead', '/actions?state=dead'],
    ['/', '/'],
    ['//evil.example', '/'],
    ['/\\evil.example', '/'],
    ['/\t/evil.example', '/'],
    ['/\n/evil.example', '/'],
    ['https://evil.example', '/'],
    ['javascript:alert(1)', '/'],
    ['', '/'],
    [undefined, '/'],
    [['/a', '/b'], '/'],
  ])('%j goes to %j', (next, expected) => {
    expect(safeNext(next)).toBe(expected);
  });
});
