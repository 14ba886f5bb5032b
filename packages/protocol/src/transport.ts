import { isIP } from 'node:net';

/**
 * Whether a URL's host is this machine: the name `localhost`, an IPv4 address in 127.0.0.0/8 or
 * the IPv6 address ::1. Only a real address counts, never a name that merely starts like one
 * (`127.0.0.1.example.com`, `localhost.example.com` are other machines). Node-only (node:net),
 * so it is a subpath of the package (`@borg/protocol/transport`) that the dashboard never loads.
 */
export function isLoopbackUrl(url: URL): boolean {
  const host = url.hostname.toLowerCase();
  if (host === 'localhost') return true;
  // The URL parser writes an IPv6 host in brackets and in its shortest form.
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  switch (isIP(bare)) {
    case 4:
      return bare.split('.')[0] === '127';
    case 6:
      return bare === '::1';
    default:
      return false;
  }
}

/**
 * A token sent over plain http crosses the network readable by anyone on the path (A14); only
 * https, or http to this machine itself, keeps it private.
 */
export function sendsTokensInClear(url: URL): boolean {
  return url.protocol === 'http:' && !isLoopbackUrl(url);
}
