import { redactText, scrubEvent } from '@cmq/common';

const CLOUD_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYZZSECRET9Q';
const SSH_KEY = '-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1planted\n-----END RSA PRIVATE KEY-----';
const URL = 'amqp://cmq:s3cr3t-planted@broker:5672/';

it('scrubs every part of an event: message, exception, frames, breadcrumbs, extra, request', () => {
  const planted = `creds ${CLOUD_SECRET} ${SSH_KEY} ${URL}`;
  const event = {
    message: planted,
    exception: {
      values: [
        {
          type: 'Error',
          value: planted,
          stacktrace: {
            frames: [
              {
                filename: '/x.js',
                pre_context: [planted],
                context_line: planted,
                post_context: [planted],
                vars: { password: 'pw-planted' },
              },
            ],
          },
        },
      ],
    },
    breadcrumbs: [{ message: planted, data: { token: 'tok-planted' } }],
    extra: { note: planted, secret_access_key: 'anything-planted' },
    request: { url: URL, headers: { authorization: 'Bearer abc-planted' }, data: planted },
    tags: { type: 'noop' },
  };
  const text = JSON.stringify(scrubEvent(event));
  for (const s of [
    CLOUD_SECRET,
    'MIIEpAIBAAKCAQEA1planted',
    's3cr3t-planted',
    'pw-planted',
    'tok-planted',
    'anything-planted',
    'abc-planted',
  ])
    expect(text).not.toContain(s);
  expect(scrubEvent(event).tags).toEqual({ type: 'noop' });
});

it('leaves text without secrets alone', () => {
  const plain = 'noop ended dead: connect ECONNREFUSED 127.0.0.1:5432 (attempt 3 of 5) https://example.org/a/b';
  expect(redactText(plain)).toBe(plain);
  expect(redactText('sha 0123456789abcdef0123456789abcdef01234567')).toContain(
    '0123456789abcdef0123456789abcdef01234567',
  );
});

it('redacts name=value pairs and URL passwords', () => {
  expect(redactText('password=hunter2 x')).toBe('password=[redacted] x');
  expect(redactText('"aws_secret_access_key": "abc"')).toBe('"aws_secret_access_key": "[redacted]"');
  expect(redactText('https://u:p@h/x')).toBe('https://u:[redacted]@h/x');
});
