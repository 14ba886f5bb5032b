import { randomBytes } from 'node:crypto';

import type { StorageUsage } from '@borg/protocol';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';

import { parsePrometheusText, sampleValue } from '../../../test/prometheus-text.ts';
import { type TestMothership, useTestMothership } from '../../../test/test-mothership.ts';
import { DatabaseGauges } from '../src/metrics/database-gauges.ts';
import { StorageUsageCache } from '../src/stats/storage-usage-cache.ts';
import { storageUsageStore } from '../src/stats/storage-usage-store.ts';

/**
 * The storage used by logs, artifacts and uploaded files: in /stats, in /metrics, and read at
 * most once per cache period. This file's mothership is its own, so the figures are exact.
 */

async function upload(borg: TestMothership, bytes: number) {
  return borg.admin.uploadFile(new Blob([randomBytes(bytes)]), 'input.bin');
}

/** A running task with `lines` log lines sent in one batch (one chunk) and an artifact of `artifactBytes`. */
async function taskWithOutput(borg: TestMothership, lines: number, artifactBytes: number) {
  const runner = await borg.registerRunner();
  await borg.admin.createJob({ name: 'produces', type: 'shell', command: 'true' });
  const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
  await runner.client.reportTaskStatus(task.id, { status: 'running' });
  await runner.client.appendTaskLogs(task.id, {
    seq: 0,
    lines: Array.from({ length: lines }, (_, i) => ({
      stream: 'stdout' as const,
      message: `line ${i} ${'x'.repeat(100)}`,
    })),
  });
  await runner.client.uploadArtifact(task.id, 'out/result.bin', new Blob([randomBytes(artifactBytes)]));
}

describe('storage used', () => {
  const borg = useTestMothership();
  const read = () => storageUsageStore.read(borg().db);

  it('counts uploaded files, artifacts and log chunks, each on its own', async () => {
    const empty = await read();
    expect(empty).toMatchObject({ artifacts: { bytes: 0, count: 0 }, files: { bytes: 0, count: 0 } });
    expect(empty.logs.count).toBe(0);
    expect(Date.parse(empty.measured_at)).not.toBeNaN();

    await upload(borg(), 30_000);
    await upload(borg(), 2_000);
    await taskWithOutput(borg(), 5_000, 70_000);
    const after = await read();
    expect(after.files).toEqual({ bytes: 32_000, count: 2 });
    expect(after.artifacts).toEqual({ bytes: 70_000, count: 1 });
    expect(after.logs.count).toBe(1);
    // 5,000 lines of about 110 bytes, stored compressed: more than nothing, less than raw.
    expect(after.logs.bytes).toBeGreaterThan(empty.logs.bytes);
    expect(after.logs.bytes).toBeLessThan(empty.logs.bytes + 5_000 * 110);

    // GET /api/v1/stats says the same (its first reading in this mothership comes after the work).
    const stats = await borg().admin.stats();
    expect(stats.storage).toMatchObject({ files: after.files, artifacts: after.artifacts, logs: after.logs });

    // And /metrics, one gauge per kind.
    const registry = new Registry();
    new DatabaseGauges(borg().db, registry, 0);
    const scraped = parsePrometheusText(await registry.metrics());
    const gauge = (name: string, kind: keyof Omit<StorageUsage, 'measured_at'>) => sampleValue(scraped, name, { kind });
    expect(gauge('borg_storage_bytes', 'files')).toBe(32_000);
    expect(gauge('borg_storage_objects', 'files')).toBe(2);
    expect(gauge('borg_storage_bytes', 'artifacts')).toBe(70_000);
    expect(gauge('borg_storage_objects', 'artifacts')).toBe(1);
    expect(gauge('borg_storage_bytes', 'logs')).toBe(after.logs.bytes);
    expect(gauge('borg_storage_objects', 'logs')).toBe(1);
  });

  it('is read from the database at most once per cache period', async () => {
    // No sleeping: one cache for an hour, one not at all.
    const cached = new StorageUsageCache(borg().db, 3_600_000);
    const uncached = new StorageUsageCache(borg().db, 0);
    const first = await cached.get();
    await upload(borg(), 1_000);
    expect(await cached.get()).toEqual(first);
    expect((await uncached.get()).files).toEqual({ bytes: first.files.bytes + 1_000, count: first.files.count + 1 });
  });
});
