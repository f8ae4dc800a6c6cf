import { BlockList, isIP } from 'node:net';

/** The addresses whose proxy header is trusted (console.proxy.addresses: IPs and CIDR networks). */
export class TrustedProxies {
  private readonly list = new BlockList();

  constructor(entries: readonly string[]) {
    for (const entry of entries) {
      const [address = '', bits] = entry.split('/');
      const type = isIP(address) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
    }
  }

  /** Whether `remote` (a socket's address; IPv4-mapped IPv6 counts as its IPv4) is trusted. */
  trusts(remote: string): boolean {
    const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(remote)?.[1];
    if (v4 !== undefined) return this.list.check(v4, 'ipv4');
    const family = isIP(remote);
    if (family === 0) return false;
    return this.list.check(remote, family === 6 ? 'ipv6' : 'ipv4');
  }
}
