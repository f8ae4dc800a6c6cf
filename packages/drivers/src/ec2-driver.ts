import {
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Instance,
  type IpPermission,
  RebootInstancesCommand,
  RunInstancesCommand,
  type SecurityGroup,
  TerminateInstancesCommand,
  type Volume as Ec2Volume,
} from '@aws-sdk/client-ec2';
import {
  CLIENT_TOKEN_RE,
  CLIENT_TOKEN_RULE,
  type CallOptions,
  type Driver,
  type Firewall,
  type FirewallRule,
  type LaunchRequest,
  type Server,
  type ServerState,
  type Volume,
  type VolumeState,
} from './driver';
import { DriverError } from './errors';
import { mapEc2Error } from './ec2-errors';
import type { Ec2DriverOptions } from './ec2-driver-options';

const SERVER_STATES: Readonly<Record<string, ServerState>> = {
  pending: 'pending',
  running: 'running',
  'shutting-down': 'stopping',
  stopping: 'stopping',
  stopped: 'stopped',
  terminated: 'terminated',
};
const VOLUME_STATES = new Set<VolumeState>(['creating', 'available', 'in-use', 'deleting', 'deleted', 'error']);

/**
 * The EC2 driver (`@aws-sdk/client-ec2` v3). The SDK's own retries are off (`maxAttempts: 1`):
 * throttling goes through the per-account rate limiter and the action's retry, which must not
 * use one of the action's attempts, and a hidden SDK retry loop would hide it from both.
 */
export class Ec2Driver implements Driver {
  readonly provider = 'ec2';
  private readonly client: EC2Client;
  private readonly secrets: readonly string[];

  constructor(opts: Ec2DriverOptions) {
    this.secrets = [
      opts.credentials.accessKeyId,
      opts.credentials.secretAccessKey,
      opts.credentials.sessionToken ?? '',
    ];
    this.client = new EC2Client({
      region: opts.region,
      ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
      credentials: { ...opts.credentials },
      maxAttempts: 1,
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 5_000,
        requestTimeout: opts.requestTimeoutMs ?? 30_000,
      },
    });
  }

  async listServers(opts?: CallOptions): Promise<Server[]> {
    return this.paginate(
      'DescribeInstances',
      (next, o) => this.client.send(new DescribeInstancesCommand({ NextToken: next }), o),
      opts,
      (out) => (out.Reservations ?? []).flatMap((r) => (r.Instances ?? []).map(toServer)),
    );
  }

  async getServer(id: string, opts?: CallOptions): Promise<Server | undefined> {
    try {
      const out = await this.call(
        'DescribeInstances',
        (o) => this.client.send(new DescribeInstancesCommand({ InstanceIds: [id] }), o),
        opts,
      );
      const instance = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === id);
      return instance === undefined ? undefined : toServer(instance);
    } catch (err) {
      // EC2 is eventually consistent: a just-launched id may be unknown for a moment.
      if (err instanceof DriverError && err.providerCode === 'InvalidInstanceID.NotFound') return undefined;
      throw err;
    }
  }

  async launchServer(req: LaunchRequest, opts?: CallOptions): Promise<Server> {
    if (!CLIENT_TOKEN_RE.test(req.clientToken)) {
      throw new DriverError({
        kind: 'permanent',
        provider: 'ec2',
        operation: 'RunInstances',
        providerMessage: CLIENT_TOKEN_RULE,
      });
    }
    const command = new RunInstancesCommand({
      ImageId: req.image,
      InstanceType: req.size as never,
      MinCount: 1,
      MaxCount: 1,
      ClientToken: req.clientToken,
      KeyName: req.keyName,
      UserData: req.userData === undefined ? undefined : Buffer.from(req.userData).toString('base64'),
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: req.name }] }],
    });
    const out = await this.call('RunInstances', (o) => this.client.send(command, o), opts);
    const instance = out.Instances?.[0];
    if (instance === undefined) {
      throw new DriverError({
        kind: 'transient',
        provider: 'ec2',
        operation: 'RunInstances',
        providerMessage: 'the answer names no instance',
      });
    }
    const server = toServer(instance);
    return server.name === '' ? { ...server, name: req.name } : server;
  }

  async terminateServer(id: string, opts?: CallOptions): Promise<void> {
    await this.call(
      'TerminateInstances',
      (o) => this.client.send(new TerminateInstancesCommand({ InstanceIds: [id] }), o),
      opts,
    );
  }

  async rebootServer(id: string, opts?: CallOptions): Promise<void> {
    await this.call(
      'RebootInstances',
      (o) => this.client.send(new RebootInstancesCommand({ InstanceIds: [id] }), o),
      opts,
    );
  }

  async listFirewalls(opts?: CallOptions): Promise<Firewall[]> {
    return this.paginate(
      'DescribeSecurityGroups',
      (next, o) => this.client.send(new DescribeSecurityGroupsCommand({ NextToken: next }), o),
      opts,
      (out) => (out.SecurityGroups ?? []).map(toFirewall),
    );
  }

  async listVolumes(opts?: CallOptions): Promise<Volume[]> {
    return this.paginate(
      'DescribeVolumes',
      (next, o) => this.client.send(new DescribeVolumesCommand({ NextToken: next }), o),
      opts,
      (out) => (out.Volumes ?? []).map(toVolume),
    );
  }

  /** Closes the SDK's keep-alive sockets. */
  destroy(): void {
    this.client.destroy();
  }

  /** Every page of a Describe call (following NextToken), each page's items mapped by `items`. */
  private async paginate<O extends { NextToken?: string }, T>(
    operation: string,
    send: (next: string | undefined, o: { abortSignal?: AbortSignal }) => Promise<O>,
    opts: CallOptions | undefined,
    items: (out: O) => T[],
  ): Promise<T[]> {
    const all: T[] = [];
    let next: string | undefined;
    do {
      const token = next;
      const out = await this.call(operation, (o) => send(token, o), opts);
      all.push(...items(out));
      next = out.NextToken;
    } while (next);
    return all;
  }

  private async call<O>(
    operation: string,
    send: (o: { abortSignal?: AbortSignal }) => Promise<O>,
    opts: CallOptions | undefined,
  ): Promise<O> {
    try {
      return await send(opts?.signal === undefined ? {} : { abortSignal: opts.signal });
    } catch (err) {
      throw mapEc2Error(err, operation, this.secrets);
    }
  }
}

function toServer(i: Instance): Server {
  const privateIps = new Set<string>();
  if (i.PrivateIpAddress) privateIps.add(i.PrivateIpAddress);
  for (const ni of i.NetworkInterfaces ?? [])
    for (const p of ni.PrivateIpAddresses ?? []) if (p.PrivateIpAddress) privateIps.add(p.PrivateIpAddress);
  const addresses: Server['addresses'] = {};
  if (i.PublicIpAddress) addresses.public = [i.PublicIpAddress];
  if (privateIps.size > 0) addresses.private = [...privateIps];
  const server: Server = {
    id: i.InstanceId ?? '',
    name: i.Tags?.find((t) => t.Key === 'Name')?.Value ?? '',
    state: SERVER_STATES[i.State?.Name ?? ''] ?? 'unknown',
    image: i.ImageId ?? '',
    size: i.InstanceType ?? '',
    addresses,
  };
  if (i.LaunchTime) server.launchedAt = i.LaunchTime.toISOString();
  return server;
}

function toRules(direction: FirewallRule['direction'], perms: IpPermission[] | undefined): FirewallRule[] {
  return (perms ?? []).map((p) => {
    const sources = [
      ...(p.IpRanges ?? []).map((r) => r.CidrIp ?? ''),
      ...(p.Ipv6Ranges ?? []).map((r) => r.CidrIpv6 ?? ''),
      ...(p.UserIdGroupPairs ?? []).map((g) => g.GroupId ?? g.GroupName ?? ''),
    ].filter((s) => s !== '');
    const rule: FirewallRule = {
      direction,
      protocol: p.IpProtocol === '-1' ? 'all' : (p.IpProtocol ?? 'all'),
      sources,
    };
    if (p.FromPort !== undefined) rule.fromPort = p.FromPort;
    if (p.ToPort !== undefined) rule.toPort = p.ToPort;
    return rule;
  });
}

function toFirewall(g: SecurityGroup): Firewall {
  return {
    id: g.GroupId ?? '',
    name: g.GroupName ?? '',
    rules: [...toRules('ingress', g.IpPermissions), ...toRules('egress', g.IpPermissionsEgress)],
  };
}

function toVolume(v: Ec2Volume): Volume {
  const state = v.State ?? 'unknown';
  const volume: Volume = {
    id: v.VolumeId ?? '',
    size_gb: v.Size ?? 0,
    state: VOLUME_STATES.has(state) ? state : 'unknown',
  };
  const attached = v.Attachments?.find((a) => a.InstanceId !== undefined && a.State !== 'detached');
  if (attached?.InstanceId !== undefined) volume.attachedTo = attached.InstanceId;
  return volume;
}
