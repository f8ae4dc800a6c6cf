import type { Redis } from 'ioredis';
import { noopRunsKey } from '../names';
import { redisCall } from './redis-errors';

/** How many times each counting noop action ran (`args.count`): the side effect tests count reruns by. */
export class NoopRunStore {
  constructor(private readonly redis: Redis) {}

  /** Adds one run of action `id` of `tenant`. @throws DependencyUnavailableError when Redis is unavailable. */
  async increment(tenant: string, id: string): Promise<void> {
    await redisCall('noop run counter', () => this.redis.hincrby(noopRunsKey(tenant), id, 1));
  }
}
