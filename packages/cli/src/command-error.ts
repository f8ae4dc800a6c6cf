import { CmqError } from '@cmq/common';

/** Exit statuses of the `cmq` commands (beyond 0 ok and 78 bad configuration). */
export const Exit = {
  /** The command ran but the answer is "no": not found, not succeeded, cannot be cancelled. */
  FAILURE: 1,
  /** A bad request refused at intake: nothing was inserted. */
  REFUSED: 2,
  /** EX_USAGE: bad command line. */
  USAGE: 64,
} as const;

/**
 * Ends a command with `exitCode`. `main` prints the message as one `cmq: ...` line on stderr; an
 * empty message prints nothing (the command already said everything on stdout).
 */
export class CommandFailed extends CmqError {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super('CMQ_ERR_COMMAND', message);
  }
}

export function failure(message: string): CommandFailed {
  return new CommandFailed(message, Exit.FAILURE);
}

export function refused(message: string): CommandFailed {
  return new CommandFailed(message, Exit.REFUSED);
}

export function usage(message: string): CommandFailed {
  return new CommandFailed(message, Exit.USAGE);
}
