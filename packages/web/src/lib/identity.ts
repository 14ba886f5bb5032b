import type { Identity } from '@borg/protocol';
import { createContext, useContext } from 'react';

/**
 * The signed-in token as the mothership sees it (`GET /api/v1/whoami`): its name, kind and
 * role. The app fetches it once at sign-in and provides it to every page; outside the app (a
 * page rendered alone in a test) it is null, and nothing is withheld.
 */
export const IdentityContext = createContext<Identity | null>(null);

export function useIdentity(): Identity | null {
  return useContext(IdentityContext);
}
