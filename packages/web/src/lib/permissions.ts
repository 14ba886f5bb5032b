import { type Identity, type OperationName, type Role, roleAtLeast, ROLES, routes } from '@borg/protocol';

/**
 * What the signed-in token may do, read from the route table's access words with roleAtLeast,
 * so a change of a route's access reaches the dashboard without touching a page. The mothership
 * decides; the dashboard uses this only to avoid offering what would be refused.
 */
export type Permission = { allowed: true } | { allowed: false; reason: string };

export const ALLOWED: Permission = { allowed: true };

export function refused(reason: string): Permission {
  return { allowed: false, reason };
}

/** The role a route needs of a user token; null for routes a user token cannot call (runner, registration). */
export function roleNeeded(operation: OperationName): Role | null {
  const access = routes[operation].access;
  if (access === 'public' || access === 'viewer-or-runner') return 'viewer';
  return (ROLES as readonly string[]).includes(access) ? (access as Role) : null;
}

export function withArticle(role: string): string {
  return `${/^[aeiou]/.test(role) ? 'an' : 'a'} ${role}`;
}

/**
 * Whether the token may call a route at all. An unknown identity (null: no page provides one
 * outside the app, as in a component test) refuses nothing and leaves it to the mothership.
 */
export function mayCall(identity: Identity | null, operation: OperationName): Permission {
  if (!identity) return ALLOWED;
  const needed = roleNeeded(operation);
  if (needed === null) return refused(`Needs a ${routes[operation].access} token`);
  if (identity.role && roleAtLeast(identity.role, needed)) return ALLOWED;
  return refused(`Needs the ${needed} role; this token is ${withArticle(identity.role ?? identity.kind)}`);
}

/** Every route that changes something; GET routes only read (downloads are recorded, but change nothing). */
const CHANGING_OPERATIONS = (Object.keys(routes) as OperationName[]).filter((name) => routes[name].method !== 'GET');

/** A token no route that changes something accepts (a viewer's): it may only look. */
export function isReadOnly(identity: Identity | null): boolean {
  return identity !== null && !CHANGING_OPERATIONS.some((operation) => mayCall(identity, operation).allowed);
}

/**
 * How an action is offered: a read-only token is offered none (a page of disabled buttons would
 * be noise); a token that may act elsewhere sees the ones it may not take disabled, the tooltip
 * saying why, so it learns what another role would allow.
 */
export type Offer = 'enabled' | 'disabled' | 'hidden';

export function offerOf(identity: Identity | null, permission: Permission): Offer {
  if (permission.allowed) return 'enabled';
  return isReadOnly(identity) ? 'hidden' : 'disabled';
}
