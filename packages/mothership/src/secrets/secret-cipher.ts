import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A secret's value as stored: AES-256-GCM under the key named by `keyId`. */
export interface SealedValue {
  keyId: string;
  nonce: Buffer;
  ciphertext: Buffer;
  authTag: Buffer;
}

const KEY_BYTES = 32;
const NONCE_BYTES = 12;

/**
 * Encrypts and decrypts secret values. Each value is bound to its secret's name (the GCM
 * additional data), so a stored value cannot be moved under another name, and each records which
 * key sealed it, so a wrong key is named rather than failing as corrupt data.
 */
export class SecretCipher {
  readonly keyId: string;
  private readonly keys: Map<string, Buffer>;

  constructor(key: Buffer, previousKeys: Buffer[] = []) {
    this.keyId = keyIdOf(key);
    this.keys = new Map([...previousKeys, key].map((k) => [keyIdOf(k), k]));
  }

  /** Whether this cipher holds the key that sealed a value (the current one, or a previous one). */
  knows(keyId: string): boolean {
    return this.keys.has(keyId);
  }

  seal(name: string, value: string): SealedValue {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.keys.get(this.keyId)!, nonce);
    cipher.setAAD(Buffer.from(name, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
    return { keyId: this.keyId, nonce, ciphertext, authTag: cipher.getAuthTag() };
  }

  open(name: string, sealed: SealedValue): string {
    const key = this.keys.get(sealed.keyId);
    if (!key) {
      throw new Error(
        `secret "${name}" was encrypted with another key (id ${sealed.keyId}); start with that key as ` +
          'BORG_SECRET_KEY, or as BORG_SECRET_KEY_PREVIOUS to re-encrypt it with the current one',
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.nonce);
    decipher.setAAD(Buffer.from(name, 'utf8'));
    decipher.setAuthTag(sealed.authTag);
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  }
}

/** A key's public name: the first 16 hex digits of its SHA-256 (it reveals nothing of the key). */
function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 16);
}

/** 32 bytes given as 64 hex digits or as base64 (either alphabet); anything else is refused with the rule. */
export function parseSecretKey(text: string, source: string): Buffer {
  const trimmed = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(trimmed)) return Buffer.from(trimmed, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) return Buffer.from(trimmed, 'base64');
  throw new Error(`${source} must be 32 bytes, as 64 hex digits or base64 (make one with: openssl rand -hex 32)`);
}

/**
 * The key from the configuration, else from the key file, which is created (mode 600, in a
 * mode-700 directory) the first time: `wx` makes two replicas starting together agree on one.
 */
export async function loadSecretKey(configured: string | undefined, keyFile: string): Promise<Buffer> {
  if (configured) return parseSecretKey(configured, 'BORG_SECRET_KEY');
  try {
    return parseSecretKey(await readFile(keyFile, 'utf8'), keyFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  try {
    await writeFile(keyFile, `${randomBytes(KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return parseSecretKey(await readFile(keyFile, 'utf8'), keyFile);
}
