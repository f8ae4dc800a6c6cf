import { once } from 'node:events';
import type { FastifyInstance } from 'fastify';

/** The largest request body the console reads (a launch form's arguments are capped at 128 KiB anyway). */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/** Bodies up to this size over the limit are read and dropped, so the client gets the 413 page, not a reset. */
const DRAIN_MAX_BYTES = 64 * 1024 * 1024;

/** A body over the console's limit, refused with a message the error pages show (pages.ts). */
export class BodyTooLarge extends Error {
  readonly statusCode = 413;
  constructor(bytes: number) {
    super(
      `the request (${Math.ceil(bytes / 1024 / 1024)} MB) is larger than the 1 MB the console accepts: nothing was done ` +
        '(the arguments of an action may be at most 128 KiB)',
    );
  }
}

/**
 * Refuses an announced body over {@link BODY_LIMIT_BYTES} with 413 after reading it to its end
 * (up to 64 MB): fastify's own refusal closes the connection mid-upload, and browsers then show a
 * connection reset instead of the message. Runs after authentication (onRequest), so only a
 * logged-in user's body is ever drained. Bodies without a length hit fastify's `bodyLimit`.
 */
export function refuseLargeBodies(app: FastifyInstance): void {
  app.addHook('preParsing', async (req, _reply, payload) => {
    const bytes = Number(req.headers['content-length']);
    if (!(bytes > BODY_LIMIT_BYTES)) return payload;
    if (bytes <= DRAIN_MAX_BYTES) {
      payload.resume();
      await once(payload, 'end');
    }
    throw new BodyTooLarge(bytes);
  });
}
