import type { Redis } from 'ioredis';

/**
 * Every key matching `pattern`, found with SCAN (never KEYS, which blocks the server), each once
 * (SCAN may return a key twice while the keyspace is rehashed).
 */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    for (const k of batch) keys.add(k);
  } while (cursor !== '0');
  return [...keys];
}
