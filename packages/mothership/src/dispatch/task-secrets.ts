import { createSecretMasker, type SecretMasker } from '@borg/protocol';

import type { Database, Queryable } from '../db/database.ts';
import { jobStore } from '../jobs/job-store.ts';
import type { ResolvedSecrets, SecretService } from '../secrets/secret-service.ts';

/** How long the log backstop keeps a job's masker before reading its secrets again. */
const MASK_CACHE_MS = 60_000;
const MASK_CACHE_JOBS = 1_000;

/**
 * The secrets of the jobs being run: their values for the claim answer, and the values the log
 * backstop masks in what a task sends (the solder masks first; this catches an old or broken one).
 */
export class TaskSecrets {
  private readonly maskers = new Map<string, { masker: SecretMasker | null; until: number }>();

  constructor(
    private readonly db: Database,
    private readonly secrets: SecretService,
  ) {}

  /** Each claimed job's resolved secrets, from its secrets map (environment variable → secret name). */
  async forClaim(byJob: ReadonlyMap<string, Record<string, string>>): Promise<Map<string, ResolvedSecrets>> {
    const resolved = new Map<string, ResolvedSecrets>();
    for (const [jobId, byEnv] of byJob) {
      if (Object.keys(byEnv).length > 0) resolved.set(jobId, await this.secrets.resolve(byEnv));
    }
    return resolved;
  }

  /**
   * The masker for what a job's tasks print, or null when the job has no secret: built once and
   * kept a minute per job (an updated secret is masked from then on). `db` is the caller's
   * transaction: on the embedded engine, a read beside it would wait for it for ever.
   */
  async maskerOf(db: Queryable, jobId: string): Promise<SecretMasker | null> {
    const cached = this.maskers.get(jobId);
    if (cached && cached.until > performance.now()) return cached.masker;
    const byEnv = (await jobStore.secretsOf(db, [jobId])).get(jobId);
    const masker = byEnv ? createSecretMasker(Object.values((await this.secrets.resolve(byEnv, db)).values)) : null;
    if (this.maskers.size >= MASK_CACHE_JOBS) this.maskers.delete(this.maskers.keys().next().value!);
    this.maskers.set(jobId, { masker: masker?.active ? masker : null, until: performance.now() + MASK_CACHE_MS });
    return masker?.active ? masker : null;
  }
}
