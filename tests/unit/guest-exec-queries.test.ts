import type { ArgsOf } from '@cmq/actions';
import type { Keyring, RedisClient, Sql, SshClient } from '@cmq/common';
import { HANDLERS, type HandlerContext } from '@cmq/subscriber';
import pino from 'pino';

/**
 * guest.exec with a fake `Sql` that answers every query with no rows: the guest is then unknown,
 * and the handler stops there, before SSH. What it asked on the way is what is checked.
 */
async function queriesOf(args: ArgsOf<'guest.exec'>): Promise<string[]> {
  const texts: string[] = [];
  const sql = {
    query: (q: string | { text: string }) => {
      texts.push(typeof q === 'string' ? q : q.text);
      return Promise.resolve({ rows: [], rowCount: 0 });
    },
  } as unknown as Sql;
  const ctx: HandlerContext<'guest.exec'> = {
    id: '7',
    tenant: 't1',
    type: 'guest.exec',
    args,
    attempt: 1,
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
    redis: undefined as unknown as RedisClient,
    ssh: {
      sql,
      client: undefined as unknown as SshClient,
      keyring: (): Keyring => {
        throw new Error('no keyring in this test');
      },
      strictHostKeys: false,
    },
  };
  await expect(HANDLERS['guest.exec'](ctx)).rejects.toMatchObject({ code: 'CMQ_ERR_GUEST_UNKNOWN' });
  return texts;
}

describe('guest.exec', () => {
  it('asks for no sealed arguments when none were sealed (no env)', async () => {
    const texts = await queriesOf({ guest: 'g1', command: 'true' });
    expect(texts.some((t) => t.includes('secret_args'))).toBe(false);
  });

  it('loads the sealed arguments when env values were sealed away', async () => {
    const texts = await queriesOf({ guest: 'g1', command: 'true', env: { TOKEN: '****' } });
    expect(texts.filter((t) => t.includes('secret_args'))).toHaveLength(1);
  });
});
