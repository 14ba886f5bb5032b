import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { SLOW_CONSUMER_CLOSE_CODE } from '../src/live/websocket-hub.ts';

/**
 * DESIGN "Events": a slow client is dropped, never buffered without bound. The client here
 * stops reading its socket (as a frozen browser tab would) while a task logs ~12 MB.
 */
describe('a WebSocket client that stops reading', () => {
  const borg = useTestMothership();

  it('is cut off with code 1013 instead of growing the server memory, and the server keeps serving', async () => {
    const runner = await borg().registerRunner();
    await borg().admin.createJob({ name: 'chatty', type: 'shell', command: 'yes' });
    const [task] = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items;
    await runner.client.reportTaskStatus(task!.id, { status: 'running' });

    const socket = new WebSocket(`${borg().url.replace('http', 'ws')}/ws`, {
      headers: { authorization: `Bearer ${borg().adminToken}` },
    });
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    socket.send(JSON.stringify({ type: 'subscribe', topics: [`task:${task!.id}`] }));
    await new Promise((resolve) => socket.once('message', resolve)); // "subscribed"

    // Stop reading: from now on the server's frames pile up in its send buffer.
    (socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const line = 'x'.repeat(1_000_000);
    let seq = 0;
    // Well past the 4 MiB limit plus what the kernel's socket buffers absorb.
    while (seq < 40 && borg().mothership.hub.size > 0) {
      await runner.client.appendTaskLogs(task!.id, { seq: seq++, lines: [{ stream: 'stdout', message: line }] });
    }
    expect(borg().mothership.hub.size).toBe(0); // the server let go of it
    (socket as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await closed).toBe(SLOW_CONSUMER_CLOSE_CODE);
    expect((await borg().admin.stats()).tasks.running).toBe(1);
  });
});
