import type { Queryable } from '../db/database.ts';

export interface PipelineRow {
  id: string;
  name: string | null;
  created_at: Date;
}

/** SQL for pipelines: jobs submitted together (their jobs are in job-store, their links in dependency-store). */
export const pipelineStore = {
  async insert(db: Queryable, name: string | null, createdBy: { tokenId: string; name: string }): Promise<PipelineRow> {
    const { rows } = await db.query<PipelineRow>(
      `INSERT INTO pipelines (name, created_by_token_id, created_by_name) VALUES ($1, $2, $3)
       RETURNING id, name, created_at`,
      [name, createdBy.tokenId, createdBy.name],
    );
    return rows[0]!;
  },

  async get(db: Queryable, id: string): Promise<PipelineRow | null> {
    const { rows } = await db.query<PipelineRow>('SELECT id, name, created_at FROM pipelines WHERE id = $1', [id]);
    return rows[0] ?? null;
  },
};
