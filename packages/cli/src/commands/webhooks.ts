import {
  type BorgClient,
  type CreatedWebhook,
  type Webhook,
  WEBHOOK_EVENTS,
  type WebhookDelivery,
} from '@borg/protocol';
import { Command } from 'commander';

import { CliError, ExitCode, usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { integer } from '../flag-values.ts';
import { ago, duration, type Output, statusPaint } from '../output.ts';
import { readSecret } from '../secret-prompt.ts';

export function webhooksCommand(): Command {
  return new Command('webhooks')
    .description('HTTP POSTs to other systems when jobs end, tasks fail or runners come and go (admin)')
    .addCommand(listCommand(), { isDefault: true })
    .addCommand(createCommand())
    .addCommand(showCommand())
    .addCommand(deliveriesCommand())
    .addCommand(redeliverCommand())
    .addCommand(pingCommand())
    .addCommand(deleteCommand());
}

function listCommand(): Command {
  return clientCommand(
    'list',
    'List webhooks: URL, events, and how the last delivery went (also plain `borg webhooks`)',
  )
    .alias('ls')
    .action(
      action(async ({ out, connect }) => {
        const { client } = await connect();
        const { items } = await client.listWebhooks();
        if (out.json) return out.printJson(items);
        const now = Date.now();
        out.table(
          items,
          [
            { header: 'ID', value: (w) => w.id },
            { header: 'URL', value: (w) => w.url },
            { header: 'EVENTS', value: (w) => w.events.join(',') },
            {
              header: 'ACTIVE',
              value: (w) => (w.active ? 'yes' : 'no'),
              paint: (w) => (w.active ? undefined : 'yellow'),
            },
            { header: 'LAST DELIVERY', value: (w) => lastDeliveryText(w, now), paint: (w) => lastPaint(w) },
          ],
          'no webhooks (create one with `borg webhooks create --url … --events …`)',
        );
      }),
    );
}

function createCommand(): Command {
  return clientCommand('create', 'Create a webhook; without --secret-stdin a secret is generated and shown once')
    .requiredOption('--url <url>', 'where deliveries are POSTed (http:// or https://)')
    .requiredOption('--events <list>', `comma-separated: ${WEBHOOK_EVENTS.join(', ')}, or * for every event`)
    .option('--secret-stdin', 'read the signing secret from stdin (asked for without echo on a terminal)')
    .addHelpText(
      'after',
      examples([
        'borg webhooks create --url https://ci.example.com/borg --events job.failed,task.lost',
        "borg webhooks create --url https://alerts.example.com/hook --events '*'",
        'pass show borg-hook | borg webhooks create --url https://… --events job.failed --secret-stdin',
        'borg webhooks create … -o json | jq -r .secret      the generated secret alone',
      ]),
    )
    .action(
      action(async ({ out, connect }, flags: { url: string; events: string; secretStdin?: boolean }) => {
        const events = flags.events
          .split(',')
          .map((e) => e.trim())
          .filter(Boolean);
        if (events.length === 0) throw usageError('--events is empty', `e.g. --events job.failed,task.lost`);
        let secret: string | undefined;
        if (flags.secretStdin) {
          secret = await readSecret('webhook secret: ');
          if (secret === '') throw usageError('the secret is empty', 'type it at the prompt or pipe it in');
        }
        const { client } = await connect();
        const created = await client.createWebhook({ url: flags.url, events, secret });
        if (out.json) return out.printJson(created);
        printWebhook(out, created);
        if (created.secret)
          out.note('the secret is not shown again: keep it now (receivers check X-Borg-Signature with it)');
      }),
    );
}

function showCommand(): Command {
  return clientCommand('show', 'Show a webhook and its latest deliveries')
    .argument('<id>', 'a webhook id, or its first 6 characters or more')
    .action(
      action(async ({ out, connect }, typed: string) => {
        const { client } = await connect();
        const webhook = await client.getWebhook(await webhookId(client, typed));
        const { items } = await client.listWebhookDeliveries(webhook.id, { limit: 10 });
        if (out.json) return out.printJson({ ...webhook, deliveries: items });
        printWebhook(out, webhook);
        out.print();
        printDeliveries(out, items);
      }),
    );
}

function deliveriesCommand(): Command {
  return clientCommand('deliveries', "List a webhook's deliveries, newest first; or one delivery's attempts")
    .argument('<id>', 'a webhook id, or its first 6 characters or more')
    .argument('[delivery-id]', 'one delivery: each attempt, with the code, time, error and start of the answer')
    .option('--limit <n>', 'how many (default 50, at most 500)')
    .addHelpText(
      'after',
      examples([
        'borg webhooks deliveries 5e1a7c',
        'borg webhooks deliveries 5e1a7c 0b6f1c2e-…      why one delivery failed, attempt by attempt',
        'borg webhooks deliveries 5e1a7c -o json',
      ]),
    )
    .action(
      action(async ({ out, connect }, typed: string, deliveryId: string | undefined, flags: { limit?: string }) => {
        const { client } = await connect();
        const id = await webhookId(client, typed);
        if (deliveryId) {
          const delivery = await client.getWebhookDelivery(id, deliveryId);
          if (out.json) return out.printJson(delivery);
          printDeliveries(out, [delivery]);
          out.print();
          out.table(
            delivery.attempt_log,
            [
              { header: 'ATTEMPT', value: (a) => String(a.attempt) },
              { header: 'STARTED', value: (a) => ago(a.started_at) },
              { header: 'CODE', value: (a) => (a.status_code === null ? '-' : String(a.status_code)) },
              { header: 'TIME', value: (a) => duration(a.duration_ms) },
              { header: 'ERROR', value: (a) => a.error ?? '' },
              { header: 'ANSWER', value: (a) => (a.response_body ?? '').replace(/\s+/g, ' ').slice(0, 80) },
            ],
            'no attempt yet',
          );
          return;
        }
        const limit = integer(flags.limit, '--limit', 1, 500);
        const { items } = await client.listWebhookDeliveries(id, { limit });
        if (out.json) return out.printJson(items);
        printDeliveries(out, items);
      }),
    );
}

function redeliverCommand(): Command {
  return clientCommand('redeliver', 'Send a delivery again: a new delivery of the same event and data')
    .argument('<id>', 'the webhook')
    .argument('<delivery-id>', 'the delivery, as `borg webhooks deliveries` lists it')
    .action(
      action(async ({ out, connect }, typed: string, deliveryId: string) => {
        const { client } = await connect();
        const delivery = await client.redeliverWebhookDelivery(await webhookId(client, typed), deliveryId);
        if (out.json) return out.printJson(delivery);
        out.print(`delivery ${delivery.id} queued (${delivery.event}, again from ${deliveryId})`);
      }),
    );
}

function pingCommand(): Command {
  return clientCommand('ping', 'Send a ping delivery now and say how the receiver answered (exit 1 if it failed)')
    .argument('<id>', 'a webhook id, or its first 6 characters or more')
    .action(
      action(async ({ out, connect }, typed: string) => {
        const { client } = await connect();
        const delivery = await client.pingWebhook(await webhookId(client, typed));
        if (out.json) out.printJson(delivery);
        else if (delivery.status === 'delivered') {
          out.print(`ping delivered: ${delivery.response_status_code} in ${duration(delivery.response_time_ms ?? 0)}`);
        } else {
          out.print(`ping ${out.status('failed')}: ${out.cell(delivery.last_error ?? 'no answer')}`);
        }
        return delivery.status === 'delivered' ? 0 : ExitCode.FAILED;
      }),
    );
}

function deleteCommand(): Command {
  return clientCommand('delete', 'Delete webhooks and their deliveries; nothing more is sent')
    .alias('rm')
    .argument('<id...>')
    .action(
      action(async ({ out, connect }, typed: string[]) => {
        const { client } = await connect();
        const deleted: Webhook[] = [];
        for (const text of typed) {
          const webhook = await client.deleteWebhook(await webhookId(client, text));
          deleted.push(webhook);
          if (!out.json) out.print(`webhook ${webhook.id} (${out.cell(webhook.url)}) deleted`);
        }
        if (out.json) out.printJson(deleted);
      }),
    );
}

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MIN_PREFIX = 6;

/** A whole webhook id, or the one webhook whose id starts with what was typed (webhooks are few: read from the list). */
async function webhookId(client: BorgClient, typed: string): Promise<string> {
  const text = typed.toLowerCase();
  if (FULL_ID.test(text)) return text;
  if (!/^[0-9a-f-]+$/.test(text) || text.length < MIN_PREFIX) {
    throw usageError(
      `"${typed}" is not a webhook id`,
      `give the whole id or its first ${MIN_PREFIX} characters or more`,
    );
  }
  const matches = (await client.listWebhooks()).items.filter((w) => w.id.startsWith(text));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0) {
    throw new CliError(`no webhook has an id starting with ${text}`, ExitCode.NOT_FOUND, 'see `borg webhooks list`');
  }
  throw usageError(`${text} is the start of ${matches.length} webhook ids`, 'give more of the id');
}

function printWebhook(out: Output, webhook: Webhook | CreatedWebhook): void {
  const pairs: Array<[string, string]> = [
    ['id', webhook.id],
    ['url', out.cell(webhook.url)],
    ['events', webhook.events.join(', ')],
    ['active', webhook.active ? 'yes' : 'no'],
    ['signed', webhook.secret_set ? 'yes (X-Borg-Signature)' : 'no'],
    ['created', ago(webhook.created_at)],
  ];
  if ('secret' in webhook && webhook.secret) pairs.push(['secret', webhook.secret]);
  out.fields(pairs);
}

function printDeliveries(out: Output, deliveries: WebhookDelivery[]): void {
  const now = Date.now();
  out.table(
    deliveries,
    [
      { header: 'ID', value: (d) => d.id },
      { header: 'EVENT', value: (d) => d.event },
      { header: 'STATUS', value: (d) => d.status, paint: (d) => deliveryPaint(d.status) },
      { header: 'CODE', value: (d) => (d.response_status_code === null ? '-' : String(d.response_status_code)) },
      { header: 'TIME', value: (d) => (d.response_time_ms === null ? '-' : duration(d.response_time_ms)) },
      { header: 'ATTEMPTS', value: (d) => String(d.attempts) },
      { header: 'NEXT', value: (d) => (d.next_attempt_at ? inText(d.next_attempt_at, now) : '-') },
      { header: 'CREATED', value: (d) => ago(d.created_at, now) },
      { header: 'ERROR', value: (d) => d.last_error ?? '' },
    ],
    'no deliveries yet',
  );
}

function deliveryPaint(status: WebhookDelivery['status']) {
  return status === 'delivered' ? statusPaint('succeeded') : status === 'failed' ? statusPaint('failed') : 'dim';
}

function lastDeliveryText(webhook: Webhook, now: number): string {
  const last = webhook.last_delivery;
  if (!last) return '-';
  const code = last.response_status_code === null ? '' : ` ${last.response_status_code}`;
  return `${last.status}${code}, ${ago(last.at, now)}`;
}

function lastPaint(webhook: Webhook) {
  return webhook.last_delivery ? deliveryPaint(webhook.last_delivery.status) : undefined;
}

/** "in 12s", or "now" for a time already past. */
function inText(iso: string, now: number): string {
  const ms = Date.parse(iso) - now;
  return ms <= 0 ? 'now' : `in ${duration(ms)}`;
}
