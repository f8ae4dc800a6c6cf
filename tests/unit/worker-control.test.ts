import {
  type ControlReply,
  type ControlResult,
  controlAudit,
  controlMessage,
  controlOutcome,
  describeCommand,
  describeTarget,
  parseControlMessage,
  parseControlReply,
  pausedFamilies,
  silentProcesses,
  targetMatches,
} from '@cmq/actions';

/** The worker-control protocol (packages/actions/src/worker-control.ts): parsing never throws, addressing is exact. */
const me = { service: 'subscriber', name: 'b', host: 'worker-3.example.org', pid: 4242 };
const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));

it('a message made by controlMessage parses back to itself', () => {
  const m = controlMessage(
    { name: 'b', host: 'worker-3.example.org' },
    { command: 'pause', family: 'control' },
    'cli:ops@h',
  );
  expect(parseControlMessage(buf(m))).toEqual({ ok: true, value: m });
});

it.each([
  ['not JSON', '{nope', /^control message is not JSON/],
  ['another version', { ...controlMessage({}, { command: 'ping' }, 'a'), v: 2 }, /^control message: v: /],
  [
    'an unknown command',
    { ...controlMessage({}, { command: 'ping' }, 'a'), command: { command: 'explode' } },
    /command/,
  ],
  [
    'pause without a family',
    { ...controlMessage({}, { command: 'ping' }, 'a'), command: { command: 'pause' } },
    /family/,
  ],
  [
    'pause of a family that is none',
    { ...controlMessage({}, { command: 'ping' }, 'a'), command: { command: 'pause', family: 'x' } },
    /family/,
  ],
  ['an unknown target field', { ...controlMessage({}, { command: 'ping' }, 'a'), target: { nam: 'b' } }, /target/],
  ['no actor', { ...controlMessage({}, { command: 'ping' }, 'a'), actor: '' }, /actor/],
  ['an array', [], /control message: \(message\)/],
  ['too large', 'x'.repeat(20_000), /of 20000 bytes \(at most 16384\)/],
])('%s is malformed, with a reason naming what is wrong', (_what, body, reason) => {
  const r = parseControlMessage(buf(body));
  expect(r.ok).toBe(false);
  if (!r.ok) expect(r.error).toMatch(reason);
});

it('a target matches when every field it gives matches: host names with dots, pid, service', () => {
  expect(targetMatches({}, me)).toBe(true);
  expect(targetMatches({ service: 'subscriber', name: 'b' }, me)).toBe(true);
  expect(targetMatches({ host: 'worker-3.example.org', pid: 4242 }, me)).toBe(true);
  expect(targetMatches({ name: 'b', pid: 1 }, me)).toBe(false);
  expect(targetMatches({ service: 'pinger' }, me)).toBe(false);
  expect(targetMatches({ host: 'worker-3' }, me)).toBe(false);
});

it('targets and commands read as people write them', () => {
  expect(describeTarget({})).toBe('every subscriber');
  expect(describeTarget({ service: 'subscriber', name: 'b', host: 'h1', pid: 7 })).toBe('subscriber b@h1:7');
  expect(describeTarget({ host: 'h1' })).toBe('subscriber @h1');
  expect(describeCommand({ command: 'resume', family: 'guest' })).toBe('resume guest');
  expect(describeCommand({ command: 'drain' })).toBe('drain');
});

it("a heartbeat's paused field: families with who and when; empty, unreadable or unknown families give none", () => {
  const at = '2026-12-07T15:00:00.000Z';
  expect(pausedFamilies(JSON.stringify({ control: { by: 'cli:ops@h', at }, bogus: { by: 'x', at } }))).toEqual({
    control: { by: 'cli:ops@h', at },
  });
  expect(pausedFamilies('')).toEqual({});
  expect(pausedFamilies(undefined)).toEqual({});
  expect(pausedFamilies('{oops')).toEqual({});
  expect(pausedFamilies('{"control": 3}')).toEqual({});
});

it('a reply of another shape is unreadable, not thrown', () => {
  expect(parseControlReply(buf({ v: 1, id: 'x' })).ok).toBe(false);
});

/** One rule for `cmq workers` and the console (packages/actions/src/worker-control.ts controlOutcome). */
describe('the outcome of a control command, as audit_log records it', () => {
  const other = { service: 'subscriber', name: 'a', host: 'h1', pid: 7 };
  const reply = (who: typeof me, outcome: ControlReply['outcome']): ControlReply => ({
    v: 1,
    id: 'x',
    command: 'pause',
    outcome,
    detail: outcome === 'refused' ? 'does not consume guest' : 'control paused',
    identity: { ...who, version: '1.0.0', state: 'running', queues: ['control'], paused: {} },
  });
  const sent = (...replies: ControlReply[]): ControlResult => ({
    message: controlMessage({ name: 'b' }, { command: 'pause', family: 'control' }, 'console:root'),
    replies,
    unreadable: [],
  });

  it('ok when every live process answered and none refused, whether it obeyed now or already had', () => {
    const result = sent(reply(me, 'done'), reply(other, 'unchanged'));
    expect(silentProcesses(result, [me, other])).toEqual([]);
    expect(controlOutcome(result, [])).toBe('ok');
  });

  it('failed when nobody answered, or a live process the target names stayed silent', () => {
    expect(controlOutcome(sent(), [])).toBe('failed');
    const result = sent(reply(me, 'done'));
    const silent = silentProcesses(result, [me, other]);
    expect(silent).toEqual([other]);
    expect(controlOutcome(result, silent)).toBe('failed');
  });

  it('refused when any process refused, even with others silent', () => {
    const result = sent(reply(me, 'refused'), reply(other, 'done'));
    expect(controlOutcome(result, [])).toBe('refused');
    expect(controlOutcome(sent(reply(me, 'refused')), [other])).toBe('refused');
  });

  it('the audit row names the command, the target, who answered what and who stayed silent', () => {
    const result = sent(reply(me, 'done'));
    expect(controlAudit(result, [{ ...other, host: 'h1\u001b]0;x' }])).toEqual({
      action: 'workers.pause',
      target: 'subscriber b',
      outcome: 'failed',
      detail: {
        control_id: result.message.id,
        command: 'pause control',
        target: { name: 'b' },
        replies: [{ who: 'subscriber b@worker-3.example.org:4242', outcome: 'done', detail: 'control paused' }],
        silent: ['subscriber a@h1\\u001b]0;x:7'],
      },
    });
  });
});
