import type { ServerMessage } from '@borg/protocol';
import { afterEach, describe, expect, it, vi } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { LiveEvents } from '../src/live-events.ts';

/**
 * The CLI followers' WebSocket after a drop: it reconnects and resumes its topics, so the events
 * sent while it was away come then, once each and in order.
 */
describe('LiveEvents, the CLI followers’ WebSocket', () => {
  const borg = useTestMothership();
  const opened: LiveEvents[] = [];
  afterEach(() => {
    for (const live of opened.splice(0)) live.close();
  });

  /** A LiveEvents whose reconnect waits until the test lets it. */
  function follow() {
    const received: ServerMessage[] = [];
    let letReconnect: () => void = () => undefined;
    const gate = () => new Promise<void>((resolve) => (letReconnect = resolve));
    const live = new LiveEvents(borg().url, borg().adminToken, (m) => received.push(m), gate);
    const behind = vi.fn();
    live.onBehind = behind;
    opened.push(live);
    return { live, received, behind, reconnect: () => letReconnect() };
  }

  const drop = (live: LiveEvents) => (live as unknown as { socket: { terminate(): void } }).socket.terminate();
  const heartbeatsOf = (received: ServerMessage[], runnerId: string) =>
    received.flatMap((m) => (m.type === 'runner.updated' && m.data.id === runnerId ? [m.id] : []));

  it('gets the events sent while it was away after it reconnects, then the new ones, each once', async () => {
    const runner = await borg().registerRunner();
    const { live, received, behind, reconnect } = follow();
    expect(await live.connect()).toBe(true);
    live.subscribe(['runners']);
    await vi.waitFor(() => expect(received.some((m) => m.type === 'subscribed')).toBe(true));
    await runner.client.heartbeat(runner.id, {});
    await vi.waitFor(() => expect(heartbeatsOf(received, runner.id)).toHaveLength(1));

    drop(live);
    await vi.waitFor(() => expect(live.connected).toBe(false));
    await runner.client.heartbeat(runner.id, {});
    await runner.client.heartbeat(runner.id, {});
    const before = received.length;
    reconnect();
    await vi.waitFor(() => expect(live.connected).toBe(true));
    await vi.waitFor(() => expect(received.slice(before).some((m) => m.type === 'subscribed')).toBe(true));
    // The two missed heartbeats come before `subscribed`: replayed, not live.
    const afterDrop = received.slice(before);
    const ack = afterDrop.findIndex((m) => m.type === 'subscribed');
    expect(heartbeatsOf(afterDrop.slice(0, ack), runner.id)).toHaveLength(2);

    await runner.client.heartbeat(runner.id, {});
    await vi.waitFor(() => expect(heartbeatsOf(received, runner.id)).toHaveLength(4));
    const ids = heartbeatsOf(received, runner.id).map((id) => Number(id!.split('.')[1]));
    expect(ids).toEqual([...new Set(ids)].sort((a, b) => a - b));
    expect(behind).not.toHaveBeenCalled();
  });

  it('calls onBehind when the server cannot resume its topics', async () => {
    const { live, received, behind, reconnect } = follow();
    await live.connect();
    live.subscribe(['runners']);
    await vi.waitFor(() => expect(received.some((m) => m.type === 'subscribed')).toBe(true));
    // Where it stands is an id of another replica: as after landing on another one.
    (live as unknown as { position: string }).position = 'elsewhere.1';
    drop(live);
    await vi.waitFor(() => expect(live.connected).toBe(false));
    reconnect();
    await vi.waitFor(() => expect(behind).toHaveBeenCalledOnce());
    expect(received).toContainEqual({ type: 'resync', topic: 'runners', reason: 'unknown_epoch' });
  });
});
