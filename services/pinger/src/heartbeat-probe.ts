import type { HeartbeatProbe } from '@cmq/actions';
import type { RedisClient } from '@cmq/common';

/**
 * The frozen-worker rule's probe (Recovery in @cmq/actions): a busy worker is alive while its
 * heartbeat key exists in Redis. It throws while Redis is not connected, so that Recovery reaps
 * nothing and starts its grace period over rather than take a worker for frozen.
 */
export function heartbeatProbe(redis: RedisClient): HeartbeatProbe {
  return {
    alive: (workers) => {
      if (!redis.ready) return Promise.reject(new Error('redis is not connected'));
      return redis.heartbeats.exist(workers);
    },
  };
}
