/**
 * A webhook's secret as its four columns hold it: AES-256-GCM output of the secret cipher
 * (secrets/secret-cipher.ts, whose SealedValue has this shape), or all four null for none.
 */
export interface SealedSecret {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  authTag: Buffer;
}

export interface SealedSecretColumns {
  secret_key_id: string | null;
  secret_nonce: Uint8Array | null;
  secret_ciphertext: Uint8Array | null;
  secret_auth_tag: Uint8Array | null;
}

/** What a webhook's columns give for its secret: sealed, or null for none. */
export function sealedOf(row: SealedSecretColumns): SealedSecret | null {
  if (!row.secret_key_id || !row.secret_nonce || !row.secret_ciphertext || !row.secret_auth_tag) return null;
  // PGlite hands bytea back as a Uint8Array, pg as a Buffer.
  return {
    keyId: row.secret_key_id,
    nonce: Buffer.from(row.secret_nonce),
    ciphertext: Buffer.from(row.secret_ciphertext),
    authTag: Buffer.from(row.secret_auth_tag),
  };
}

/** The four column values, in order: key id, nonce, ciphertext, auth tag. */
export function sealedParams(sealed: SealedSecret | null): unknown[] {
  return sealed ? [sealed.keyId, sealed.nonce, sealed.ciphertext, sealed.authTag] : [null, null, null, null];
}

/** The name a webhook's secret is sealed under (the cipher's additional data): it cannot be moved to another. */
export const secretNameOf = (webhookId: string) => `webhook:${webhookId}`;
