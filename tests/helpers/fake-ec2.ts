import { randomBytes, randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type FakeInstance,
  type FakeSecurityGroup,
  type FakeVolume,
  describeInstancesXml,
  describeSecurityGroupsXml,
  describeVolumesXml,
  errorDocument,
  rebootInstancesXml,
  runInstancesXml,
  terminateInstancesXml,
} from './fake-ec2-xml';

export interface FakeEc2Options {
  /** Image ids RunInstances accepts; default `ami-be3adfd7`, `ami-3215fe5a`. */
  images?: string[];
  /** pending → running after this many DescribeInstances answers showing it (default 2)... */
  runningAfterDescribes?: number;
  /** ...or after this many ms, whichever comes first (default: never by time). */
  runningAfterMs?: number;
  /** shutting-down → terminated after this many DescribeInstances answers (default 1). */
  terminatedAfterDescribes?: number;
  /** Requests signed with this access key id get AuthFailure, the key id echoed in the message. */
  rejectAccessKey?: string;
}

export interface FakeEc2Call {
  action: string;
  params: Record<string, string>;
  /** The access key id of the SigV4 Authorization header. */
  accessKeyId: string | undefined;
  /** The HTTP status the fake answered. */
  status: number;
}

class Ec2Fault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A stateful fake EC2 endpoint speaking the EC2 Query API (form-encoded POST, XML answers) on
 * 127.0.0.1, for the EC2 driver's tests. Requests must carry a SigV4 Authorization header (the
 * signature itself is not verified). It keeps instances in memory, honours ClientToken
 * idempotency, moves instances through their states as they are described, and can throttle.
 */
export class FakeEc2 {
  readonly calls: FakeEc2Call[] = [];
  readonly instances = new Map<string, FakeInstance>();
  readonly securityGroups: FakeSecurityGroup[] = [
    {
      id: 'sg-443d0a12',
      name: 'WebServers',
      description: 'Web Servers',
      ingress: [{ protocol: 'tcp', from: 80, to: 80, cidrs: ['0.0.0.0/0'], groups: [] }],
    },
    {
      id: 'sg-5ff8a023',
      name: 'RangedPortsBySource',
      description: 'Group A',
      ingress: [{ protocol: 'tcp', from: 6000, to: 7000, cidrs: [], groups: ['sg-99gh4012'] }],
    },
  ];
  readonly volumes: FakeVolume[] = [
    { id: 'vol-10ae5e2b', size: 1, status: 'available' },
    { id: 'vol-v24bfh75', size: 11, status: 'in-use' },
  ];
  private readonly images: Set<string>;
  private readonly byToken = new Map<string, string>();
  private readonly server: Server;
  private throttleCount = 0;
  private rate: { perSecond: number; burst: number; tokens: number; at: number } | undefined;
  private failures: Array<{ status: number; code: string; message: string }> = [];
  private nextIp = 10;
  private port = 0;

  constructor(private readonly opts: FakeEc2Options = {}) {
    this.images = new Set(opts.images ?? ['ami-be3adfd7', 'ami-3215fe5a']);
    this.server = createServer((req, res) => this.onRequest(req, res));
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The next `n` calls answer 503 RequestLimitExceeded. */
  throttleNext(n: number): void {
    this.throttleCount = n;
  }

  /** From now on, admit `perSecond` calls a second (bucket of `burst`); the rest are throttled. */
  throttleRate(perSecond: number, burst: number): void {
    this.rate = { perSecond, burst, tokens: burst, at: Date.now() };
  }

  stopThrottling(): void {
    this.throttleCount = 0;
    this.rate = undefined;
  }

  /** The next call answers with this error (queued; one per call). */
  failNext(status: number, code: string, message: string): void {
    this.failures.push({ status, code, message });
  }

  countCalls(action: string, status?: number): number {
    return this.calls.filter((c) => c.action === action && (status === undefined || c.status === status)).length;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
      const auth = req.headers.authorization ?? '';
      const accessKeyId = /^AWS4-HMAC-SHA256 Credential=([^/]+)\//.exec(auth)?.[1];
      const action = params.Action ?? '';
      const requestId = randomUUID();
      let status = 200;
      let body: string;
      try {
        body = this.answer(action, params, accessKeyId, requestId);
      } catch (err) {
        const fault =
          err instanceof Ec2Fault ? err : new Ec2Fault(500, 'InternalError', 'An internal error has occurred');
        status = fault.status;
        body = errorDocument(fault.code, fault.message, requestId);
      }
      this.calls.push({ action, params, accessKeyId, status });
      res.writeHead(status, { 'content-type': 'text/xml;charset=UTF-8', 'x-amzn-requestid': requestId });
      res.end(body);
    });
  }

  private answer(
    action: string,
    params: Record<string, string>,
    accessKeyId: string | undefined,
    requestId: string,
  ): string {
    if (accessKeyId === undefined)
      throw new Ec2Fault(401, 'AuthFailure', 'AWS was not able to validate the provided access credentials');
    if (accessKeyId === this.opts.rejectAccessKey)
      throw new Ec2Fault(401, 'AuthFailure', `The access key id ${accessKeyId} is not valid for this account`);
    if (params.Version === undefined)
      throw new Ec2Fault(400, 'MissingParameter', 'The request must contain the parameter Version');
    this.checkThrottle();
    const failure = this.failures.shift();
    if (failure !== undefined) throw new Ec2Fault(failure.status, failure.code, failure.message);
    switch (action) {
      case 'RunInstances':
        return runInstancesXml(this.run(params), requestId);
      case 'DescribeInstances':
        return describeInstancesXml(this.describe(listParam(params, 'InstanceId')), requestId);
      case 'TerminateInstances':
        return terminateInstancesXml(this.terminate(listParam(params, 'InstanceId')), requestId);
      case 'RebootInstances':
        for (const id of listParam(params, 'InstanceId')) this.find(id);
        return rebootInstancesXml(requestId);
      case 'DescribeSecurityGroups':
        return describeSecurityGroupsXml(this.securityGroups, requestId);
      case 'DescribeVolumes':
        return describeVolumesXml(this.volumes, requestId);
      default:
        throw new Ec2Fault(400, 'InvalidAction', `The action ${action} is not valid for this web service.`);
    }
  }

  private checkThrottle(): void {
    if (this.throttleCount > 0) {
      this.throttleCount -= 1;
      throw new Ec2Fault(503, 'RequestLimitExceeded', 'Request limit exceeded.');
    }
    if (this.rate === undefined) return;
    const now = Date.now();
    this.rate.tokens = Math.min(
      this.rate.burst,
      this.rate.tokens + ((now - this.rate.at) * this.rate.perSecond) / 1000,
    );
    this.rate.at = now;
    if (this.rate.tokens < 1) throw new Ec2Fault(503, 'RequestLimitExceeded', 'Request limit exceeded.');
    this.rate.tokens -= 1;
  }

  private run(params: Record<string, string>): FakeInstance {
    const image = params.ImageId;
    const type = params.InstanceType ?? 'm1.small';
    if (image === undefined)
      throw new Ec2Fault(400, 'MissingParameter', 'The request must contain the parameter ImageId');
    if (params.MinCount !== '1' || params.MaxCount !== '1')
      throw new Ec2Fault(400, 'InvalidParameterValue', 'this fake launches one instance at a time');
    const token = params.ClientToken ?? '';
    const known = token === '' ? undefined : this.byToken.get(token);
    if (known !== undefined) {
      const instance = this.find(known);
      if (instance.image !== image || instance.type !== type) {
        throw new Ec2Fault(
          400,
          'IdempotentParameterMismatch',
          'Arguments on this idempotent request are inconsistent with arguments used in previous request(s).',
        );
      }
      return instance;
    }
    if (!/^ami-[0-9a-z]+$/.test(image))
      throw new Ec2Fault(400, 'InvalidAMIID.Malformed', `Invalid id: "${image}" (expecting "ami-...")`);
    if (!this.images.has(image))
      throw new Ec2Fault(400, 'InvalidAMIID.NotFound', `The image id '[${image}]' does not exist`);
    const n = this.nextIp++;
    const instance: FakeInstance = {
      id: `i-${randomBytes(8).toString('hex').slice(0, 17)}`,
      reservationId: `r-${randomBytes(4).toString('hex')}`,
      image,
      type,
      clientToken: token,
      tags: tagParams(params),
      state: 'pending',
      launchTime: new Date(Math.floor(Date.now() / 1000) * 1000),
      privateIp: `10.0.0.${n}`,
      publicIp: `203.0.113.${n}`,
      rootVolumeId: `vol-${randomBytes(4).toString('hex')}`,
      describes: 0,
      changedAt: Date.now(),
    };
    if (params.KeyName !== undefined) instance.keyName = params.KeyName;
    this.instances.set(instance.id, instance);
    if (token !== '') this.byToken.set(token, instance.id);
    this.volumes.push({ id: instance.rootVolumeId, size: 8, status: 'in-use', attachedTo: instance.id });
    return instance;
  }

  private describe(ids: string[]): FakeInstance[] {
    const list = ids.length > 0 ? ids.map((id) => this.find(id)) : [...this.instances.values()];
    for (const i of list) this.advance(i);
    return list;
  }

  private advance(i: FakeInstance): void {
    i.describes += 1;
    const waited = Date.now() - i.changedAt;
    if (
      i.state === 'pending' &&
      (i.describes >= (this.opts.runningAfterDescribes ?? 2) || waited >= (this.opts.runningAfterMs ?? Infinity))
    ) {
      this.setState(i, 'running');
    } else if (i.state === 'shutting-down' && i.describes >= (this.opts.terminatedAfterDescribes ?? 1)) {
      this.setState(i, 'terminated');
      const index = this.volumes.findIndex((v) => v.id === i.rootVolumeId);
      if (index >= 0) this.volumes.splice(index, 1);
    }
  }

  private setState(i: FakeInstance, state: FakeInstance['state']): void {
    i.state = state;
    i.describes = 0;
    i.changedAt = Date.now();
  }

  private terminate(
    ids: string[],
  ): Array<{ id: string; previous: FakeInstance['state']; current: FakeInstance['state'] }> {
    const list = ids.map((id) => this.find(id));
    return list.map((i) => {
      const previous = i.state;
      if (previous !== 'terminated' && previous !== 'shutting-down') this.setState(i, 'shutting-down');
      return { id: i.id, previous, current: i.state };
    });
  }

  private find(id: string): FakeInstance {
    const instance = this.instances.get(id);
    if (instance === undefined)
      throw new Ec2Fault(400, 'InvalidInstanceID.NotFound', `The instance ID '${id}' does not exist`);
    return instance;
  }
}

/** `InstanceId.1`, `InstanceId.2`, ... in order. */
function listParam(params: Record<string, string>, name: string): string[] {
  const out: string[] = [];
  for (let n = 1; params[`${name}.${n}`] !== undefined; n += 1) out.push(params[`${name}.${n}`] as string);
  return out;
}

/** Instance tags from `TagSpecification.N.ResourceType=instance` / `.Tag.M.Key|Value`. */
function tagParams(params: Record<string, string>): Array<{ key: string; value: string }> {
  const tags: Array<{ key: string; value: string }> = [];
  for (let n = 1; params[`TagSpecification.${n}.ResourceType`] !== undefined; n += 1) {
    if (params[`TagSpecification.${n}.ResourceType`] !== 'instance') continue;
    for (let m = 1; params[`TagSpecification.${n}.Tag.${m}.Key`] !== undefined; m += 1) {
      tags.push({
        key: params[`TagSpecification.${n}.Tag.${m}.Key`] as string,
        value: params[`TagSpecification.${n}.Tag.${m}.Value`] ?? '',
      });
    }
  }
  return tags;
}
