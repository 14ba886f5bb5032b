import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which addresses a webhook delivery may connect to. A webhook URL is chosen by an admin, but a
 * request from the mothership carries the mothership's network position: without this rule, a
 * webhook could reach the database, a cloud metadata service (169.254.169.254) or an internal
 * admin page, and read the answer back from the delivery log. So, unless
 * BORG_WEBHOOK_ALLOW_PRIVATE=true, deliveries never go to loopback, link-local, private,
 * shared (CGNAT), multicast, reserved or unspecified addresses, nor to any address of this
 * machine's own interfaces. The rule is checked on the address a connection is actually made
 * to (the DNS answer, at connect time), so a name that resolves elsewhere later (DNS
 * rebinding) cannot get past it.
 */
const REFUSED_RANGES: ReadonlyArray<[string, number, 'ipv4' | 'ipv6', string]> = [
  ['0.0.0.0', 8, 'ipv4', 'unspecified'],
  ['10.0.0.0', 8, 'ipv4', 'private'],
  ['100.64.0.0', 10, 'ipv4', 'shared (carrier-grade NAT)'],
  ['127.0.0.0', 8, 'ipv4', 'loopback'],
  ['169.254.0.0', 16, 'ipv4', 'link-local'],
  ['172.16.0.0', 12, 'ipv4', 'private'],
  ['192.0.0.0', 24, 'ipv4', 'reserved'],
  ['192.168.0.0', 16, 'ipv4', 'private'],
  ['198.18.0.0', 15, 'ipv4', 'reserved (benchmarking)'],
  ['224.0.0.0', 4, 'ipv4', 'multicast'],
  ['240.0.0.0', 4, 'ipv4', 'reserved'],
  ['::', 128, 'ipv6', 'unspecified'],
  ['::1', 128, 'ipv6', 'loopback'],
  ['fe80::', 10, 'ipv6', 'link-local'],
  ['fc00::', 7, 'ipv6', 'private (unique local)'],
  ['ff00::', 8, 'ipv6', 'multicast'],
];

const rangeLists = REFUSED_RANGES.map(([network, prefix, family, why]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { list, why };
});

/**
 * IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::a.b.c.d,
 * either with the IPv4 part in hex): judged by the IPv4 address inside.
 */
function embeddedIpv4(address: string): string | null {
  const match = /^(?:::ffff:|64:ff9b::)(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):([0-9a-f]{1,4}))$/i.exec(address);
  if (!match) return null;
  if (match[1]) return match[1];
  const high = parseInt(match[2]!, 16);
  const low = parseInt(match[3]!, 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}

/** The addresses of this machine's interfaces, read each time (they change: DHCP, VPNs). */
function ownAddresses(): Set<string> {
  const own = new Set<string>();
  for (const entries of Object.values(networkInterfaces())) {
    for (const entry of entries ?? []) own.add(entry.address.toLowerCase().replace(/%.*$/, ''));
  }
  return own;
}

/** Why a delivery may not connect to this IP address, or null when it may. */
export function refusedAddressReason(address: string): string | null {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const v4 = embeddedIpv4(bare);
  const family = v4 ? 4 : isIP(bare);
  if (family === 0) return 'not an IP address';
  const ip = v4 ?? bare;
  for (const { list, why } of rangeLists) {
    if (list.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return why;
  }
  if (ownAddresses().has(ip.toLowerCase())) return "one of the mothership's own addresses";
  return null;
}

/** The error a refused connection fails with; its message is what the delivery records. */
export class RefusedAddressError extends Error {
  readonly code = 'EBORGREFUSEDADDRESS';
  constructor(message: string) {
    super(message);
    this.name = 'RefusedAddressError';
  }
}

const ALLOW_HINT = 'set BORG_WEBHOOK_ALLOW_PRIVATE=true to allow private addresses';

/** Refuses a URL whose host is a literal IP address the rule forbids (no DNS is asked). */
export function checkLiteralHost(url: URL): RefusedAddressError | null {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) === 0) return null;
  const why = refusedAddressReason(host);
  return why ? new RefusedAddressError(`refused: ${host} is ${why}; ${ALLOW_HINT}`) : null;
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for net.connect that resolves as usual, then keeps only the addresses the rule
 * allows: the connection can only be made to one of those. A name with none left fails with the
 * addresses it had and why each was refused.
 */
export function guardedLookup(hostname: string, options: LookupOptions, callback: LookupCallback): void {
  dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
    if (error) return callback(error, []);
    const allowed: LookupAddress[] = [];
    const refused: string[] = [];
    for (const entry of addresses) {
      const why = refusedAddressReason(entry.address);
      if (why) refused.push(`${entry.address} (${why})`);
      else allowed.push(entry);
    }
    if (allowed.length === 0) {
      return callback(
        new RefusedAddressError(`refused: ${hostname} resolves to ${refused.join(', ')}; ${ALLOW_HINT}`),
        [],
      );
    }
    if (options.all) return callback(null, allowed);
    callback(null, allowed[0]!.address, allowed[0]!.family);
  });
}
