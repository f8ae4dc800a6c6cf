/**
 * EC2 Query API answers for the fake endpoint, built on the shapes of the recorded answers in
 * /work/shared/ec2-fixtures (run_instances.xml, describe_instances.xml, ...), API 2016-11-15.
 */

export interface FakeInstance {
  id: string;
  reservationId: string;
  image: string;
  type: string;
  keyName?: string;
  clientToken: string;
  tags: Array<{ key: string; value: string }>;
  state: 'pending' | 'running' | 'shutting-down' | 'terminated' | 'stopping' | 'stopped';
  launchTime: Date;
  privateIp: string;
  publicIp: string;
  rootVolumeId: string;
  /** DescribeInstances answers that showed it since its last state change. */
  describes: number;
  changedAt: number;
}

export interface FakeSecurityGroup {
  id: string;
  name: string;
  description: string;
  ingress: Array<{ protocol: string; from: number; to: number; cidrs: string[]; groups: string[] }>;
}

export interface FakeVolume {
  id: string;
  size: number;
  status: string;
  attachedTo?: string;
}

const NS = 'http://ec2.amazonaws.com/doc/2016-11-15/';
const STATE_CODES: Record<FakeInstance['state'], number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export function esc(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

function items(list: string[]): string {
  return list.map((x) => `<item>${x}</item>`).join('');
}

export function document(action: string, requestId: string, body: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${NS}"><requestId>${requestId}</requestId>${body}</${action}Response>`;
}

export function errorDocument(code: string, message: string, requestId: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code><Message>${esc(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID></Response>`;
}

export function stateXml(tag: string, state: FakeInstance['state']): string {
  return `<${tag}><code>${STATE_CODES[state]}</code><name>${state}</name></${tag}>`;
}

export function instanceXml(i: FakeInstance): string {
  const running = i.state === 'running';
  const tags = items(i.tags.map((t) => `<key>${esc(t.key)}</key><value>${esc(t.value)}</value>`));
  return [
    `<instanceId>${i.id}</instanceId><imageId>${esc(i.image)}</imageId>`,
    stateXml('instanceState', i.state),
    `<privateDnsName>ip-${i.privateIp.replace(/\./g, '-')}.ec2.internal</privateDnsName><dnsName/>`,
    i.keyName === undefined ? '' : `<keyName>${esc(i.keyName)}</keyName>`,
    `<amiLaunchIndex>0</amiLaunchIndex><productCodes/><instanceType>${esc(i.type)}</instanceType>`,
    `<launchTime>${i.launchTime.toISOString()}</launchTime>`,
    `<placement><availabilityZone>us-east-1d</availabilityZone><groupName/><tenancy>default</tenancy></placement>`,
    `<monitoring><state>disabled</state></monitoring>`,
    i.state === 'terminated' ? '' : `<privateIpAddress>${i.privateIp}</privateIpAddress>`,
    running ? `<ipAddress>${i.publicIp}</ipAddress>` : '',
    `<groupSet><item><groupId>sg-443d0a12</groupId><groupName>WebServers</groupName></item></groupSet>`,
    `<architecture>x86_64</architecture><rootDeviceType>ebs</rootDeviceType><rootDeviceName>/dev/sda1</rootDeviceName>`,
    `<blockDeviceMapping><item><deviceName>/dev/sda1</deviceName><ebs><volumeId>${i.rootVolumeId}</volumeId><status>attached</status>`,
    `<attachTime>${i.launchTime.toISOString()}</attachTime><deleteOnTermination>true</deleteOnTermination></ebs></item></blockDeviceMapping>`,
    `<virtualizationType>hvm</virtualizationType><clientToken>${esc(i.clientToken)}</clientToken>`,
    `<tagSet>${tags}</tagSet><hypervisor>xen</hypervisor><networkInterfaceSet/><ebsOptimized>false</ebsOptimized>`,
  ].join('');
}

export function runInstancesXml(i: FakeInstance, requestId: string): string {
  return document(
    'RunInstances',
    requestId,
    `<reservationId>${i.reservationId}</reservationId><ownerId>123456789098</ownerId><groupSet><item><groupId>sg-443d0a12</groupId></item></groupSet><instancesSet>${items([instanceXml(i)])}</instancesSet>`,
  );
}

export function describeInstancesXml(list: FakeInstance[], requestId: string): string {
  const reservations = list.map(
    (i) =>
      `<reservationId>${i.reservationId}</reservationId><ownerId>123456789098</ownerId><groupSet/><instancesSet>${items([instanceXml(i)])}</instancesSet>`,
  );
  return document('DescribeInstances', requestId, `<reservationSet>${items(reservations)}</reservationSet>`);
}

export function terminateInstancesXml(
  changes: Array<{ id: string; previous: FakeInstance['state']; current: FakeInstance['state'] }>,
  requestId: string,
): string {
  const list = changes.map(
    (c) =>
      `<instanceId>${c.id}</instanceId>${stateXml('currentState', c.current)}${stateXml('previousState', c.previous)}`,
  );
  return document('TerminateInstances', requestId, `<instancesSet>${items(list)}</instancesSet>`);
}

export function rebootInstancesXml(requestId: string): string {
  return document('RebootInstances', requestId, '<return>true</return>');
}

export function describeSecurityGroupsXml(groups: FakeSecurityGroup[], requestId: string): string {
  const list = groups.map((g) => {
    const perms = g.ingress.map((p) => {
      const groupPairs = items(p.groups.map((id) => `<userId>111122223333</userId><groupId>${esc(id)}</groupId>`));
      const ranges = items(p.cidrs.map((c) => `<cidrIp>${esc(c)}</cidrIp>`));
      return `<ipProtocol>${esc(p.protocol)}</ipProtocol><fromPort>${p.from}</fromPort><toPort>${p.to}</toPort><groups>${groupPairs}</groups><ipRanges>${ranges}</ipRanges>`;
    });
    return `<ownerId>111122223333</ownerId><groupId>${esc(g.id)}</groupId><groupName>${esc(g.name)}</groupName><groupDescription>${esc(g.description)}</groupDescription><vpcId/><ipPermissions>${items(perms)}</ipPermissions><ipPermissionsEgress/><tagSet/>`;
  });
  return document('DescribeSecurityGroups', requestId, `<securityGroupInfo>${items(list)}</securityGroupInfo>`);
}

export function describeVolumesXml(volumes: FakeVolume[], requestId: string): string {
  const list = volumes.map((v) => {
    const attachment =
      v.attachedTo === undefined
        ? ''
        : items([
            `<volumeId>${v.id}</volumeId><instanceId>${v.attachedTo}</instanceId><device>/dev/sda1</device><status>attached</status><attachTime>2013-06-25T02:04:12.000Z</attachTime><deleteOnTermination>true</deleteOnTermination>`,
          ]);
    return `<volumeId>${v.id}</volumeId><size>${v.size}</size><snapshotId/><availabilityZone>us-east-1d</availabilityZone><status>${esc(v.status)}</status><createTime>2013-10-09T05:41:37.000Z</createTime><attachmentSet>${attachment}</attachmentSet><volumeType>standard</volumeType>`;
  });
  return document('DescribeVolumes', requestId, `<volumeSet>${items(list)}</volumeSet>`);
}
