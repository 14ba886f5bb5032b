import type { SecretInfo, SecretList } from '@borg/protocol';

import type { Principal } from '../auth/principal.ts';
import type { Database, Queryable } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import type { SecretCipher } from './secret-cipher.ts';
import { secretStore } from './secret-store.ts';

/** Values of a job's secrets, by the environment variable each one is given as. */
export interface ResolvedSecrets {
  values: Record<string, string>;
  /** Secret names the job asks for that no longer exist. */
  missing: string[];
}

/**
 * Secrets as admins manage them, and their values as the claim hands them to the runner holding a
 * task. Values are decrypted here and nowhere else, and only for that answer.
 */
export class SecretService {
  constructor(
    private readonly db: Database,
    private readonly cipher: SecretCipher,
  ) {}

  async put(name: string, value: string, actor: Principal): Promise<{ info: SecretInfo; created: boolean }> {
    return secretStore.put(this.db, name, this.cipher.seal(name, value), actor.tokenId);
  }

  async list(): Promise<SecretList> {
    return { items: await secretStore.list(this.db), next_cursor: null };
  }

  async remove(name: string): Promise<SecretInfo> {
    const info = await secretStore.remove(this.db, name);
    if (!info) throw new BorgError('SECRET_NOT_FOUND', `secret ${name} does not exist`);
    return info;
  }

  /**
   * Decrypts what a job's `secrets` map names (environment variable → secret name). A secret
   * deleted since, or sealed under a key this mothership does not have, is reported missing.
   * `db` is the transaction to read in, when the caller holds one.
   */
  async resolve(byEnv: Record<string, string>, db: Queryable = this.db): Promise<ResolvedSecrets> {
    const names = [...new Set(Object.values(byEnv))];
    const stored = new Map((await secretStore.sealed(db, names)).map((s) => [s.name, s.sealed]));
    const readable = new Map<string, string>();
    for (const [name, sealed] of stored) {
      if (this.cipher.knows(sealed.keyId)) readable.set(name, this.cipher.open(name, sealed));
    }
    const values: Record<string, string> = {};
    for (const [env, name] of Object.entries(byEnv)) {
      const value = readable.get(name);
      if (value !== undefined) values[env] = value;
    }
    return { values, missing: names.filter((name) => !readable.has(name)) };
  }

  /**
   * Re-encrypts, in one transaction, every secret sealed under a previous key this mothership
   * was given; secrets under a key it does not have are left as they are and named.
   */
  async resealUnderCurrentKey(): Promise<{ resealed: number; unreadable: string[] }> {
    return this.db.transaction(async (tx) => {
      const stale = await secretStore.sealedUnderOtherKeys(tx, this.cipher.keyId);
      const unreadable: string[] = [];
      for (const { name, sealed } of stale) {
        if (!this.cipher.knows(sealed.keyId)) {
          unreadable.push(name);
          continue;
        }
        await secretStore.reseal(tx, name, this.cipher.seal(name, this.cipher.open(name, sealed)));
      }
      return { resealed: stale.length - unreadable.length, unreadable };
    });
  }
}
