/**
 * The provider-neutral driver interface, in the spirit of Apache Libcloud's `NodeDriver`: a small
 * set of calls every provider can answer, with provider-neutral records. Every call may throw a
 * `DriverError` whose `kind` says whether to retry (`transient`), slow down (`throttled`) or give
 * up (`permanent`).
 */

export type ServerState = 'pending' | 'running' | 'stopping' | 'stopped' | 'terminated' | 'unknown';

export interface ServerAddresses {
  public?: string[];
  private?: string[];
}

export interface Server {
  /** The provider's id (`i-0123...`). */
  id: string;
  /** The `Name` tag (EC2) or the name given at launch; `''` when there is none. */
  name: string;
  state: ServerState;
  image: string;
  size: string;
  addresses: ServerAddresses;
  /** ISO 8601. */
  launchedAt?: string;
  /** SSH host key fingerprint (`SHA256:...`), where the provider gives one. */
  hostKeyFingerprint?: string;
  /** The port its SSH server listens on, where the provider says (local: `sshPort`); else 22. */
  sshPort?: number;
  /** The account to log in as over SSH, where the provider decides it (local: the sshd's user). */
  sshUser?: string;
  /** Absolute paths of the server's log files, where the provider knows them (local: its home's `log/`). */
  logPaths?: string[];
}

export interface FirewallRule {
  direction: 'ingress' | 'egress';
  /** `tcp`, `udp`, `icmp`, or `all`. */
  protocol: string;
  fromPort?: number;
  toPort?: number;
  /** CIDR blocks and security group ids the rule admits. */
  sources: string[];
}

export interface Firewall {
  id: string;
  name: string;
  rules: FirewallRule[];
}

export type VolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted' | 'error' | 'unknown';

export interface Volume {
  id: string;
  size_gb: number;
  state: VolumeState;
  /** The server id it is attached to. */
  attachedTo?: string;
}

/** Spend so far in the current period, where the provider keeps a budget. */
export interface Spend {
  amount: number;
  currency: string;
  /** ISO 8601 start of the period the amount covers. */
  periodStart: string;
  limit?: number;
}

/** A `LaunchRequest.clientToken` every driver accepts: 1 to 64 printable ASCII characters (EC2's rule). */
export const CLIENT_TOKEN_RE = /^[\x20-\x7e]{1,64}$/;
export const CLIENT_TOKEN_RULE = 'the idempotency token must be 1 to 64 printable ASCII characters';

export interface LaunchRequest {
  image: string;
  size: string;
  name: string;
  /**
   * Idempotency token: the action id. Launching twice with the same token yields one server
   * (EC2 `ClientToken`, at most 64 ASCII characters).
   */
  clientToken: string;
  keyName?: string;
  userData?: string;
}

/** Per-call options. */
export interface CallOptions {
  /** Aborts the request in flight (the action's timeout or the process stopping). */
  signal?: AbortSignal;
}

export interface Driver {
  /** `local`, `ec2`, ... */
  readonly provider: string;
  listServers(opts?: CallOptions): Promise<Server[]>;
  /** The server, or `undefined` when the provider does not know the id (yet, or any more). */
  getServer(id: string, opts?: CallOptions): Promise<Server | undefined>;
  /** Starts a launch and returns the server as the provider first reports it (usually `pending`). */
  launchServer(req: LaunchRequest, opts?: CallOptions): Promise<Server>;
  /** Asks for termination; terminating a terminated server succeeds. */
  terminateServer(id: string, opts?: CallOptions): Promise<void>;
  rebootServer(id: string, opts?: CallOptions): Promise<void>;
  listFirewalls(opts?: CallOptions): Promise<Firewall[]>;
  listVolumes(opts?: CallOptions): Promise<Volume[]>;
  /** Spend and budget, only where the provider has one. */
  getSpend?(opts?: CallOptions): Promise<Spend>;
}
