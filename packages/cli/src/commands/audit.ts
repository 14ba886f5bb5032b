import { AUDIT_ACTIONS, type AuditAction, type AuditEvent, type BorgClient } from '@borg/protocol';
import { type Command, Option } from 'commander';

import { usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { durationSeconds, integer, isoInstant } from '../flag-values.ts';
import type { Output, Paint } from '../output.ts';

interface AuditFlags {
  actor?: string;
  action?: AuditAction;
  object?: string;
  since?: string;
  after?: string;
  before?: string;
  limit?: string;
}

/** The filters of `GET /api/v1/audit` that `borg audit` sets. */
export interface AuditFilters {
  actor?: string;
  action?: AuditAction;
  object?: string;
  after?: string;
  before?: string;
}

/** The API's largest page. */
const AUDIT_PAGE_LIMIT = 500;

export function auditCommand(): Command {
  return clientCommand('audit', 'Show the audit log, newest first: who did what to which object, from where (admin)')
    .option('--actor <token-id>', "only this token's entries (an id from `borg tokens list`)")
    .addOption(new Option('--action <action>', 'only this action').choices([...AUDIT_ACTIONS]))
    .option('--object <id>', 'only entries about this job, runner, file or token')
    .option('--since <duration>', 'only the last so long, e.g. 1h, 30m, 7d')
    .option('--after <time>', 'only entries at or after this ISO-8601 time (local time without an offset)')
    .option('--before <time>', 'only entries before this ISO-8601 time')
    .option('--limit <n>', 'at most this many (default 50)')
    .addHelpText(
      'after',
      examples([
        'borg audit',
        'borg audit --since 1h --action job.cancel',
        'borg audit --actor 5e1a… --limit 500',
        'borg audit --object 0b6f…                      everything done to one job',
        'borg audit --after 2026-01-02 --before 2026-01-03 -o json',
      ]),
    )
    .action(
      action(async ({ out, connect }, flags: AuditFlags) => {
        const filters = auditFilters(flags);
        const limit = integer(flags.limit, '--limit', 1, 100_000) ?? 50;
        const { client } = await connect();
        const events = await listAuditEvents(client, filters, limit);
        if (out.json) out.printJson(events);
        else printAuditTable(out, events);
      }),
    );
}

function auditFilters(flags: AuditFlags, now = Date.now()): AuditFilters {
  if (flags.since !== undefined && flags.after !== undefined) {
    throw usageError('--since and --after both say where the log starts', 'give one of them');
  }
  const since = durationSeconds(flags.since, '--since');
  return {
    actor: flags.actor,
    action: flags.action,
    object: flags.object,
    after: since !== undefined ? new Date(now - since * 1000).toISOString() : isoInstant(flags.after, '--after'),
    before: isoInstant(flags.before, '--before'),
  };
}

/** Follows cursors until `limit` entries or the end of the log; `pageLimit` is the most asked for at once. */
export async function listAuditEvents(
  client: Pick<BorgClient, 'listAudit'>,
  filters: AuditFilters,
  limit: number,
  pageLimit = AUDIT_PAGE_LIMIT,
): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listAudit({ ...filters, cursor, limit: Math.min(pageLimit, limit - events.length) });
    events.push(...page.items);
    cursor = page.next_cursor ?? undefined;
  } while (cursor && events.length < limit);
  return events;
}

const OUTCOME_PAINT: Record<AuditEvent['outcome'], Paint> = { ok: 'green', refused: 'yellow', failed: 'red' };

function printAuditTable(out: Output, events: AuditEvent[]): void {
  out.table(
    events,
    [
      { header: 'TIME', value: (e) => `${e.at.slice(0, 19)}Z` },
      { header: 'ACTOR', value: (e) => e.actor?.name ?? 'no valid token' },
      { header: 'ROLE', value: (e) => e.actor?.role ?? e.actor?.kind ?? '-' },
      { header: 'ACTION', value: (e) => e.action },
      { header: 'OBJECT', value: (e) => (e.object ? `${e.object.type} ${e.object.id}` : '-') },
      { header: 'FROM', value: (e) => e.address },
      { header: 'STATUS', value: (e) => `${e.outcome} ${e.status}`, paint: (e) => OUTCOME_PAINT[e.outcome] },
    ],
    'no audit entries',
  );
}
