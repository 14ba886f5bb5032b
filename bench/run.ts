/**
 * `npm run bench` runs every benchmark; `npm run bench -- NAME…` (a name or a figure number)
 * runs some; `--docs` also puts the table into docs/performance.md. Each prints its row as it
 * finishes and writes bench/results/NAME.json; the table of the latest result of every figure
 * goes to bench/results/latest.md. BORG_BENCH_SCALE=0.1 shrinks every count for a quick check
 * of the harness itself.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import * as prettier from 'prettier';

import { buildNode } from '../scripts/build-node.ts';
import { cliStartup } from './figures/cli-startup.ts';
import { dispatchLatency } from './figures/dispatch-latency.ts';
import { enqueue } from './figures/enqueue.ts';
import { fanOutIn } from './figures/fan-out-in.ts';
import { fileTransfer } from './figures/file-transfer.ts';
import { idleMemory } from './figures/idle-memory.ts';
import { listAtScale } from './figures/list-at-scale.ts';
import { logIngestion } from './figures/log-ingestion.ts';
import { processThroughput } from './figures/process-throughput.ts';
import { queueThroughput } from './figures/queue-throughput.ts';
import { retentionSweep } from './figures/retention-sweep.ts';
import { runnersAtScale } from './figures/runners-at-scale.ts';
import { dropLeftoverBenchDatabases } from './lib/bench-database.ts';
import type { Figure } from './lib/figure.ts';
import { machineDescription } from './lib/proc.ts';
import { consoleTable, loadResult, markdownTable, type RecordedResult, RESULTS_DIR, saveResult } from './lib/report.ts';

const FIGURES: Figure[] = [
  dispatchLatency,
  queueThroughput,
  processThroughput,
  enqueue,
  logIngestion,
  fileTransfer,
  idleMemory,
  listAtScale,
  runnersAtScale,
  cliStartup,
  fanOutIn,
  retentionSweep,
];

function pick(names: string[]): Figure[] {
  if (names.length === 0) return FIGURES;
  return names.map((name) => {
    const figure = FIGURES.find((f) => f.name === name || String(f.figure) === name);
    if (!figure) {
      console.error(`unknown benchmark ${name}; choose from ${FIGURES.map((f) => f.name).join(', ')}`);
      process.exit(2);
    }
    return figure;
  });
}

const DOCS = new URL('../docs/performance.md', import.meta.url).pathname;

/** With --docs, the table in docs/performance.md (between its bench:table markers) is replaced. */
async function replaceDocsTable(table: string): Promise<void> {
  const doc = await readFile(DOCS, 'utf8');
  const start = doc.indexOf('<!-- bench:table -->');
  const end = doc.indexOf('<!-- /bench:table -->');
  if (start < 0 || end < start) throw new Error('docs/performance.md has no bench:table markers');
  const updated = `${doc.slice(0, start)}<!-- bench:table -->\n\n${table}\n${doc.slice(end)}`;
  // Formatted as `npm run lint` expects (prettier pads the table's columns).
  const options = (await prettier.resolveConfig(DOCS)) ?? {};
  await writeFile(DOCS, await prettier.format(updated, { ...options, filepath: DOCS }));
  console.log('docs/performance.md: table replaced (check the text around it still says the same)');
}

async function main(): Promise<void> {
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const writeDocs = args.includes('--docs');
  const chosen = pick(args.filter((a) => a !== '--docs'));
  const started = performance.now();
  const machine = await machineDescription();
  console.log(
    `bench: ${chosen.map((f) => f.name).join(', ')} on ${machine.cpu} (${machine.cores} cores), load ${machine.load}`,
  );
  // Processes are started from the compiled build, as users run them: it must be current.
  await buildNode({ log: (line) => console.log(`bench: ${line}`) });
  const leftover = await dropLeftoverBenchDatabases();
  if (leftover.length > 0) console.log(`bench: dropped ${leftover.length} database(s) left by killed runs`);
  const ran: RecordedResult[] = [];
  for (const figure of chosen) {
    const load = (await machineDescription()).load;
    const t0 = performance.now();
    console.log(`\n[${figure.figure}] ${figure.name}…`);
    let result: RecordedResult;
    try {
      const figureResult = await figure.run();
      result = {
        ...figureResult,
        seconds: (performance.now() - t0) / 1000,
        finished_at: new Date().toISOString(),
        load_before: load,
      };
    } catch (error) {
      console.error(error);
      result = {
        figure: figure.figure,
        name: figure.name,
        title: figure.name,
        borg: '',
        reference: '',
        ratio: '',
        goal: '',
        met: false,
        scale: '',
        details: {},
        seconds: (performance.now() - t0) / 1000,
        finished_at: new Date().toISOString(),
        load_before: load,
        error: error instanceof Error ? error.message.split('\n')[0]! : String(error),
      };
      process.exitCode = 1;
    }
    await saveResult(result);
    ran.push(result);
    console.log(consoleTable([result]));
  }
  const latest: RecordedResult[] = [];
  for (const figure of FIGURES) {
    const result = ran.find((r) => r.name === figure.name) ?? (await loadResult(figure.name));
    if (result) latest.push(result);
  }
  const table = await markdownTable(latest);
  await writeFile(join(RESULTS_DIR, 'latest.md'), table);
  if (writeDocs) await replaceDocsTable(table);
  console.log(`\n${consoleTable(ran)}`);
  console.log(
    `\nbench: ${ran.length} benchmark(s) in ${((performance.now() - started) / 1000).toFixed(0)} s; ` +
      `table of the latest results in bench/results/latest.md`,
  );
}

await main();
