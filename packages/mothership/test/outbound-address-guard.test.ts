import type { LookupAddress } from 'node:dns';
import { networkInterfaces } from 'node:os';

import { describe, expect, it } from 'vitest';

import {
  checkLiteralHost,
  guardedLookup,
  RefusedAddressError,
  refusedAddressReason,
} from '../src/webhooks/outbound-address-guard.ts';

/** guardedLookup as a promise: the addresses it lets through, or the error it fails with. */
function lookup(hostname: string, all: boolean): Promise<LookupAddress[] | string | Error> {
  return new Promise((resolve) => {
    guardedLookup(hostname, { all }, (error, address, family) => {
      if (error) resolve(error);
      else resolve(Array.isArray(address) ? address : `${address}/${family}`);
    });
  });
}

describe('the outbound address rule for webhook deliveries', () => {
  it('refuses loopback, link-local, private, shared, multicast, reserved and unspecified addresses', () => {
    const refused: Array<[string, string]> = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['::1', 'loopback'],
      ['[::1]', 'loopback'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:10.0.0.1', 'private'],
      ['64:ff9b::169.254.169.254', 'link-local'],
      ['64:ff9b::a9fe:a9fe', 'link-local'],
      ['::ffff:7f00:1', 'loopback'],
      ['169.254.169.254', 'link-local'],
      ['fe80::1', 'link-local'],
      ['fe80::1%eth0', 'link-local'],
      ['10.0.0.1', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.255', 'private'],
      ['192.168.1.1', 'private'],
      ['fc00::1', 'private (unique local)'],
      ['fd12:3456::1', 'private (unique local)'],
      ['100.64.0.1', 'shared (carrier-grade NAT)'],
      ['0.0.0.0', 'unspecified'],
      ['::', 'unspecified'],
      ['224.0.0.1', 'multicast'],
      ['ff02::1', 'multicast'],
      ['255.255.255.255', 'reserved'],
    ];
    for (const [address, why] of refused) expect(refusedAddressReason(address), address).toBe(why);
  });

  it('lets public addresses through, the edges of the private ranges included', () => {
    for (const address of [
      '93.184.216.34',
      '172.15.255.255',
      '172.32.0.1',
      '100.128.0.1',
      '2606:4700::1111',
      '8.8.8.8',
    ]) {
      expect(refusedAddressReason(address), address).toBeNull();
    }
  });

  it("refuses the mothership's own interface addresses, whatever their range", () => {
    const own = Object.values(networkInterfaces())
      .flat()
      .map((entry) => entry!.address);
    expect(own.length).toBeGreaterThan(0);
    for (const address of own) expect(refusedAddressReason(address), address).not.toBeNull();
  });

  it('judges a URL by its host only when it is a literal address', () => {
    expect(checkLiteralHost(new URL('http://127.0.0.1:8080/x'))?.message).toBe(
      'refused: 127.0.0.1 is loopback; set BORG_WEBHOOK_ALLOW_PRIVATE=true to allow private addresses',
    );
    expect(checkLiteralHost(new URL('http://[::1]/'))).toBeInstanceOf(RefusedAddressError);
    expect(checkLiteralHost(new URL('http://0177.0.0.1/'))?.message).toContain('127.0.0.1 is loopback');
    expect(checkLiteralHost(new URL('http://localhost/'))).toBeNull(); // a name: judged when it is resolved
    expect(checkLiteralHost(new URL('https://93.184.216.34/'))).toBeNull();
  });

  it('fails the lookup of a name that resolves only to refused addresses, saying which and why, in both forms', async () => {
    for (const all of [true, false]) {
      const result = await lookup('localhost', all);
      expect(result).toBeInstanceOf(RefusedAddressError);
      expect((result as Error).message).toMatch(/^refused: localhost resolves to (127\.0\.0\.1|::1) \(loopback\)/);
    }
    // A literal address handed to the lookup (as net.connect never does) is judged the same.
    expect(await lookup('10.1.2.3', true)).toBeInstanceOf(RefusedAddressError);
  });
});
