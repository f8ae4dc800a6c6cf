import type { FileSpec } from './file-spec';
import { bool, checkCidr, decimal, duration, integer, list, oneOf, optionalUserName, path } from './formats';

export interface ProvisioningConfig {
  mode: 'passive' | 'static' | 'dynamic';
  SOURCE_CIDR: string[];
  cloud: {
    default_provider: 'local' | 'ec2';
    rate: number;
    burst: number;
    local: { state_dir: string; ssh_port: number; forget_after: number; login_user: string };
  };
  ssh: {
    strict_host_keys: boolean;
    connect_timeout: number;
    keepalive_interval: number;
    command_timeout: number;
    output_cap: number;
    per_host_limit: number;
  };
}

export const provisioningFile: FileSpec<ProvisioningConfig> = {
  file: 'provisioning.cfg',
  title: 'Operating mode, allowed networks, SSH and cloud provider defaults.',
  envPrefix: 'CMQ_',
  schema: {
    mode: {
      doc: 'passive: monitoring only; static: plus worker processes on registered nodes over SSH; dynamic: plus cloud servers (launch, terminate, reboot).',
      format: oneOf(['passive', 'static', 'dynamic']),
      default: 'dynamic',
    },
    SOURCE_CIDR: {
      doc: 'Networks SSH targets must be in, comma-separated CIDRs; anything else is refused before a packet is sent.',
      format: list('cidr', checkCidr),
      default: ['127.0.0.0/8'],
    },
    cloud: {
      default_provider: {
        doc: 'Provider of accounts added without --provider.',
        format: oneOf(['local', 'ec2']),
        default: 'local',
      },
      rate: {
        doc: 'Provider API calls per second per cloud account (a token bucket in Redis shared by every subscriber); `cmq accounts add --rate` overrides it per account.',
        format: decimal(0.01, 10_000),
        default: 5,
      },
      burst: {
        doc: 'Calls a cloud account may make at once after a quiet spell (the bucket size); `cmq accounts add --burst` overrides it per account.',
        format: integer(1, 100_000),
        default: 10,
      },
      local: {
        state_dir: {
          doc: "Where the local cloud driver keeps its servers (sshd configs, host keys, homes): the provider's own state, not cmq's database.",
          format: path,
          default: '/var/lib/cmq-workers/local-cloud',
        },
        ssh_port: {
          doc: "Port the local driver's servers listen on, each on its own 127.0.0.0/8 address.",
          format: integer(1, 65535),
          default: 2222,
        },
        forget_after: {
          doc: 'How long the local driver lists a terminated server (state terminated) before it forgets it, as EC2 does; a sync then records it gone.',
          format: duration(0, 7 * 24 * 3_600_000),
          default: 3_600_000,
        },
        login_user: {
          doc: "POSIX user the local driver's servers admit and run commands as, with a login shell; empty = the user running the subscriber (only a root subscriber can name another, which must be able to traverse state_dir). Root only when named: login_user=root. Its commands read what it can read (docs/cloud.md).",
          format: optionalUserName,
          default: '',
        },
      },
    },
    ssh: {
      strict_host_keys: {
        doc: 'Refuse hosts whose key is not already known (no trust on first use, even for guests the platform launched).',
        format: bool,
        default: false,
      },
      connect_timeout: {
        doc: 'Time allowed to connect and authenticate.',
        format: duration(100, 300_000),
        default: 10_000,
      },
      keepalive_interval: {
        doc: 'SSH keepalive interval; a connection is dropped after 3 unanswered keepalives (0 turns them off).',
        format: duration(0, 600_000),
        default: 15_000,
      },
      per_host_limit: {
        doc: 'Most SSH connections open at once to one host:port from one process; more wait their turn.',
        format: integer(1, 1000),
        default: 4,
      },
      command_timeout: {
        doc: 'Default limit for one remote command.',
        format: duration(100, 86_400_000),
        default: 60_000,
      },
      output_cap: {
        doc: 'Bytes of stdout and of stderr kept per command; the rest is dropped and the result marked truncated.',
        format: integer(1024, 64 * 1024 * 1024),
        default: 1024 * 1024,
      },
    },
  },
};
