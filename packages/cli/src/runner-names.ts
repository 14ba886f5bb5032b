import type { BorgClient, Runner } from '@borg/protocol';

/** Every runner, following the cursor (`borg runners list`, runner names). */
export async function listAllRunners(client: BorgClient): Promise<Runner[]> {
  const runners: Runner[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listRunners({ cursor, limit: 500 });
    runners.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return runners;
}

/**
 * Runner names for the ids a job's tasks carry, as the dashboard shows them. The runners are
 * fetched once, and again only when an id not seen before turns up (`jobs show --watch`); a
 * runner deleted since keeps its id.
 */
export class RunnerNames {
  private names = new Map<string, string>();

  constructor(private readonly client: BorgClient) {}

  /** Makes sure every id in `ids` that the mothership still knows has its name. */
  async load(ids: Iterable<string | null>): Promise<void> {
    const missing = [...ids].some((id) => id !== null && !this.names.has(id));
    if (!missing) return;
    this.names = new Map((await listAllRunners(this.client)).map((r) => [r.id, r.name]));
  }

  nameOf = (id: string): string => this.names.get(id) ?? id;
}
