import { BorgApiError, BorgClient, type Identity } from '@borg/protocol';

/**
 * The token lives in sessionStorage: it is gone when the tab closes, it is not sent with any
 * request the page does not make itself (unlike a cookie, so no CSRF), and it never goes into a
 * URL. localStorage would survive the browser closing, which is more than a shared machine
 * should keep; signing in again from a new tab is the price.
 */
const KEY = 'borg.token';

export function storedToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function storeToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, token);
}

let client: BorgClient | null = null;

/** The typed client for this page's origin, with the signed-in token. */
export function api(): BorgClient {
  const token = storedToken() ?? undefined;
  if (!client || client.token !== token) client = new BorgClient({ baseUrl: location.origin, token });
  return client;
}

/** Checks a token against the mothership before keeping it; answers who the token is. */
export async function signIn(token: string): Promise<Identity> {
  const candidate = new BorgClient({ baseUrl: location.origin, token });
  const identity = await candidate.whoami();
  storeToken(token);
  return identity;
}

/** What went wrong, for a person: the server's own message (a refusal names the role needed). */
export function errorMessage(error: unknown): string {
  if (error instanceof BorgApiError) {
    if (error.code === 'UNAUTHORIZED') return 'That token is not valid (unknown, revoked or expired).';
    return error.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** Why a sign-in failed: a token the mothership knows but refuses here is a runner's or a registration token. */
export function signInErrorMessage(error: unknown): string {
  if (error instanceof BorgApiError && error.code === 'FORBIDDEN') {
    return 'That token cannot be used here: the dashboard needs a user (API) token.';
  }
  return errorMessage(error);
}

export function isUnauthorized(error: unknown): boolean {
  return error instanceof BorgApiError && error.code === 'UNAUTHORIZED';
}
