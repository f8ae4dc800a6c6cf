/**
 * How the executor treats an action whose handler threw an error with this code, when the code
 * fixes it: `transient` is retried with backoff, `permanent` ends the action `dead` at once.
 * Codes without one are thrown with either decision, or never reach an action.
 */
export type ErrorRetry = 'transient' | 'permanent';

/** What one `CMQ_ERR_*` code means and where an operator meets it (docs/errors.md is made from it). */
export interface ErrorCodeInfo {
  /** One line: what went wrong. */
  readonly meaning: string;
  readonly retry?: ErrorRetry;
  /** Where the error's message shows: an action's error, a process's log, a `cmq` command's stderr. */
  readonly shows: string;
}

const ACTION = "the action's error (`cmq result`, `cmq events`) and the subscriber's log";
const CLI_ADD = '`cmq` stderr: exit 2 for a malformed name or id, else exit 1';
const HOST_ADD =
  "`cmq nodes`/`cmq guests` stderr: exit 2 for a malformed field, exit 1 for a taken name or id or an unknown tenant; the console's node and guest forms, beside the field";

/** Every error code, in the order docs/errors.md lists them. */
export const ERROR_CODES = {
  CMQ_ERR_CONFIG: {
    meaning:
      'A configuration file or `CMQ_*` variable is invalid, or a file a key names (keys file, TLS CA, certificate, key) is missing, unreadable, malformed or mismatched; the message lists every problem with file and key.',
    shows: 'stderr of the process or `cmq` command, exit 78 (EX_CONFIG), before anything connects',
  },
  CMQ_ERR_SCHEMA: {
    meaning: 'The database schema is missing or older than this release needs (run `cmq migrate`).',
    shows: 'stderr and log of the process at start, exit 78; `cmq` exit 78',
  },
  CMQ_ERR_BROKER_UNAVAILABLE: {
    meaning: 'Not connected to RabbitMQ, or a publish was not confirmed in time.',
    shows:
      "the relay's log and status (`cmq status`, `cmq check`), the batch staying due; `cmq dead replay` stderr; " +
      "the subscriber's warning about a dead-letter copy",
  },
  CMQ_ERR_DEPENDENCY_UNAVAILABLE: {
    meaning:
      'A dependency of cmq itself (Redis, PostgreSQL) did not answer: the run is held back without using an attempt, at most `retry.max_outages` times an action.',
    retry: 'transient',
    shows: `${ACTION}, as "held back"; the subscriber stops consuming until the dependency is back`,
  },
  CMQ_ERR_PUBLISH_REFUSED: {
    meaning: 'RabbitMQ refused (nacked) a publish, e.g. a full queue with `overflow=reject-publish`.',
    retry: 'transient',
    shows: "the relay's log and status; counted toward reopening the broker connection",
  },
  CMQ_ERR_REDIS_UNREACHABLE: {
    meaning: '`cmq` could not read state from Redis (the message names the server and the reason).',
    shows: '`cmq status` / `cmq check` stderr (`cmq check`: UNKNOWN, exit 3)',
  },
  CMQ_ERR_SUMMARY: {
    meaning: "The pinger's summary in Redis cannot be parsed.",
    shows: '`cmq check` / `cmq status` stderr',
  },
  CMQ_ERR_INTAKE: {
    meaning: 'A request was refused at intake: unknown type, arguments failing the schema, unknown tenant.',
    shows: '`cmq call` stderr, exit 2; nothing was inserted',
  },
  CMQ_ERR_SECRET_KEYRING: {
    meaning:
      'A request has secret arguments (`guest.exec` `env`) and no keyring can encrypt them: `km.keys_file` of km-client.cfg is unset or unreadable.',
    shows: '`cmq call` stderr, exit 2, nothing inserted; a request published straight onto the broker is dead-lettered',
  },
  CMQ_ERR_COMMAND: {
    meaning: 'A `cmq` command ended with a failure it already explained (carries its exit status).',
    shows: '`cmq` stderr, exit 1, 2 or 64',
  },
  CMQ_ERR_TENANT: { meaning: 'A tenant id is malformed, taken or unknown.', shows: CLI_ADD },
  CMQ_ERR_USER: {
    meaning: 'A console user is malformed (name, role, password), taken or unknown, or its tenant unknown.',
    shows: '`cmq users` stderr: exit 2 for a malformed name, role or password, else exit 1',
  },
  CMQ_ERR_GUEST: {
    meaning: 'A guest is malformed (id, address, port, user, fingerprint, log paths), taken, or its tenant unknown.',
    shows: HOST_ADD,
  },
  CMQ_ERR_NODE: {
    meaning: 'A node field (name, address, port, user, fingerprint, command) is malformed, or the name is taken.',
    shows: HOST_ADD,
  },
  CMQ_ERR_POLICY: {
    meaning:
      "An autoscaling policy is invalid (the message names each field), its account is not the platform tenant's, its name is taken or unknown.",
    shows: '`cmq policies` stderr: exit 2 for an invalid policy, else exit 1',
  },
  CMQ_ERR_ACCOUNT: {
    meaning:
      'A cloud account is malformed (credentials, region, endpoint) or its tenant unknown, or an autoscaling policy still launches with the account being removed.',
    retry: 'permanent',
    shows: `\`cmq accounts add\`/\`rotate\` stderr, exit 2 (\`remove\` blocked by a policy: exit 1); the console's account forms, beside the field; in a handler, ${ACTION}`,
  },
  CMQ_ERR_ACCOUNT_UNKNOWN: {
    meaning: 'The action names a cloud account its tenant does not have.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_ACCOUNT_DISABLED: { meaning: 'The cloud account is disabled.', retry: 'permanent', shows: ACTION },
  CMQ_ERR_KEYS_FILE: {
    meaning: '`km.keys_file` is unset, unreadable or malformed (a bad or repeated key id).',
    shows: '`cmq keys` / `cmq accounts` / `cmq guests` stderr; a handler needing a key fails dead',
  },
  CMQ_ERR_KEY_UNKNOWN: {
    meaning: 'The active key id, or the key id stored with a ciphertext, is not in the keys file.',
    shows: '`cmq` stderr; a handler decrypting with it fails dead',
  },
  CMQ_ERR_CIPHERTEXT: { meaning: 'A stored ciphertext is malformed.', shows: '`cmq` stderr or the action error' },
  CMQ_ERR_DECRYPT: {
    meaning: 'Decryption failed authentication: wrong key or altered data.',
    shows: '`cmq` stderr or the action error',
  },
  CMQ_ERR_SSH_CONNECT: {
    meaning: 'No SSH connection (refused, unreachable, no handshake within `ssh.connect_timeout`) or channel.',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_SSH_AUTH: { meaning: 'The SSH server did not accept the key.', retry: 'permanent', shows: ACTION },
  CMQ_ERR_SSH_KEY: {
    meaning: 'The stored private key cannot be used (unsupported or encrypted format).',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_SSH_HOSTKEY_MISMATCH: {
    meaning: 'The host key differs from the pinned one (a security event).',
    retry: 'permanent',
    shows: `${ACTION}, logged as a security event`,
  },
  CMQ_ERR_SSH_HOSTKEY_UNKNOWN: {
    meaning: 'The host has no pinned key and may not be trusted on first use (a security event).',
    retry: 'permanent',
    shows: `${ACTION}, logged as a security event`,
  },
  CMQ_ERR_SSH_SOURCE_CIDR: {
    meaning: 'The target address is outside `SOURCE_CIDR` (provisioning.cfg).',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_SSH_RESOLVE: { meaning: 'The target host name did not resolve.', retry: 'transient', shows: ACTION },
  CMQ_ERR_SSH_ENV: {
    meaning: 'An environment name for a remote command is not a shell identifier.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_SSH_UNAVAILABLE: {
    meaning: 'This subscriber has no SSH services for an SSH action.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_ABORTED: {
    meaning: 'Work was interrupted by the action timeout or a shutdown (remote command killed).',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_GUEST_UNKNOWN: {
    meaning: 'The action names a guest its tenant does not have.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_GUEST_INACTIVE: {
    meaning: 'The action names a guest that was deactivated (`cmq guests activate` makes it usable again).',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_NODE_UNKNOWN: {
    meaning: 'The action names a node that is not registered.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_NODE_TENANT: {
    meaning: 'A node action came from a tenant other than the platform tenant.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_LOGS_CAP: {
    meaning: 'A log chunk went over `ssh.output_cap` (raise it in provisioning.cfg).',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_LOGS_DIR: {
    meaning: 'This subscriber has no `log.dir` for collected logs.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_SERVER_ARGS: {
    meaning: "A server action's arguments lack what the provider needs (an image).",
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_SERVER_GUEST: {
    meaning: "A launched server's guest id is taken by an operator's guest.",
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_CLOUD_UNAVAILABLE: {
    meaning: 'This subscriber has no cloud services for a cloud action.',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_DRIVER_TRANSIENT: {
    meaning: 'A cloud provider call failed in a way a retry can mend (5xx, network, timeout).',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_DRIVER_THROTTLED: {
    meaning: "The provider's rate limit: retried later without using one of the action's attempts.",
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_DRIVER_PERMANENT: {
    meaning: 'A provider call failed in a way a retry cannot mend (bad parameter, no permission).',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_COBBLER_LOGIN: {
    meaning:
      "Cobbler refused the account's login (user and password, or shared secret): fix the account's credentials; never retried.",
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_COBBLER_BUSY: {
    meaning:
      'Another sync of the same Cobbler server is running (cmq runs one at a time per server, as Cobbler requires): retried with backoff.',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_COBBLER_FAULT: {
    meaning:
      "Cobbler answered a call with a fault (an unknown system or profile, a bad power operation); the message has Cobbler's own text.",
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_COBBLER_UNREACHABLE: {
    meaning: 'The Cobbler server did not answer (connection refused, timeout, an HTTP error): retried with backoff.',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_IPMI_SESSION: {
    meaning:
      "The BMC refused the ipmi account's user or password (ipmitool's lanplus session: `RAKP 2 HMAC is invalid`, `unauthorized name`); never retried.",
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_IPMI_FAILED: {
    meaning:
      'An ipmitool command against a BMC failed: no answer (no session), a timeout, a failed command; retried with backoff (ipmitool not installed: not retried).',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_RATE_LIMIT_CONFIG: {
    meaning: 'A rate limiter was given a rate not above 0 or a burst below 1 (the config checks prevent it).',
    retry: 'permanent',
    shows: ACTION,
  },
  CMQ_ERR_RATE_LIMIT_UNAVAILABLE: {
    meaning:
      "The per-account rate limiter's Redis state cannot be read or written (Redis replied with an error; Redis unreachable is `CMQ_ERR_DEPENDENCY_UNAVAILABLE`).",
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_UNSTORABLE_OUTCOME: {
    meaning: "An action's result cannot be written as JSON (too large or not serialisable).",
    shows: "the subscriber's log ('outcome could not be stored'); the action ends dead with the reason",
  },
  CMQ_ERR_NOOP_TRANSIENT: {
    meaning: 'A `noop` asked to fail (`fail_times`), for tests.',
    retry: 'transient',
    shows: ACTION,
  },
  CMQ_ERR_NOOP_PERMANENT: {
    meaning: "A `noop` asked to fail permanently (`fail: 'permanent'`), for tests.",
    retry: 'permanent',
    shows: ACTION,
  },
} as const satisfies Record<`CMQ_ERR_${string}`, ErrorCodeInfo>;

/** Every `CMQ_ERR_*` code; `CmqError` takes only these. */
export type CmqErrorCode = keyof typeof ERROR_CODES;
