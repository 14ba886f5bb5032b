// @vitest-environment jsdom
import type { Job, JobPage } from '@borg/protocol';
import { QueryClient } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { storeToken } from '../src/lib/api.ts';
import { Live, setLive, type TaskLog, wantTopic } from '../src/lib/live.ts';
import { jobOf } from './fixtures.ts';

/** Stands in for the browser's WebSocket: the test delivers frames by hand. */
class FakeSocket {
  static readonly OPEN = 1;
  static last: FakeSocket | null = null;
  readyState = FakeSocket.OPEN;
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: (() => void) | null = null;
  constructor(readonly url: string) {
    FakeSocket.last = this;
  }
  readonly sent: string[] = [];
  send(frame: string): void {
    this.sent.push(frame);
  }
  close(): void {}
  deliver(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' ? frame : JSON.stringify(frame) });
  }
}

const job = (status: Job['status']): Job => jobOf({ id: 'a', name: 'build', status, command: 'make' });

type Pages = { pages: JobPage[]; pageParams: unknown[] };

let queries: QueryClient;
let live: Live;
let socket: FakeSocket;

beforeEach(() => {
  vi.stubGlobal('WebSocket', FakeSocket);
  vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  storeToken('user-token');
  queries = new QueryClient();
  queries.setQueryData<Pages>(['jobs', {}], {
    pages: [{ items: [job('queued')], next_cursor: null }],
    pageParams: [undefined],
  });
  queries.setQueryData(['logs', 't'], { lines: [] });
  live = new Live(queries);
  live.start();
  socket = FakeSocket.last!;
});

afterEach(() => {
  vi.useRealTimers();
  live.stop();
  storeToken(null);
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('signing in', () => {
  it('sends the token in its first message, never in the URL', () => {
    expect(socket.url).toMatch(/\/ws$/);
    expect(socket.url).not.toContain('user-token');
    socket.onopen?.();
    expect(JSON.parse(socket.sent[0]!)).toEqual({ type: 'auth', token: 'user-token' });
  });
});

const listed = () => queries.getQueryData<Pages>(['jobs', {}])!.pages[0]!.items[0]!;

describe('frames from the WebSocket', () => {
  it('applies a message that matches the protocol', () => {
    socket.deliver({ type: 'job.updated', topic: 'jobs', data: job('running') });
    expect(listed().status).toBe('running');
    expect(live.invalidMessages).toBe(0);
    expect(console.warn).not.toHaveBeenCalled();
  });

  it('drops every frame that does not match the protocol, leaving the cache as it was', () => {
    const frames = [
      'not json {',
      { type: 'job.updated', topic: 'jobs', data: { ...job('running'), status: 'exploded' } },
      { type: 'job.updated', topic: 'jobs', data: { id: 'a', status: 'running' } },
      { type: 'task.log', topic: 'task:t', data: { task_id: 't', lines: [{ index: '0', message: 'x' }] } },
      { type: 'jobs.replaced', topic: 'jobs', data: [] },
      null,
    ];
    for (const frame of frames) socket.deliver(frame);
    expect(listed()).toEqual(job('queued'));
    expect(queries.getQueryState(['jobs', {}])!.isInvalidated).toBe(false);
    expect(queries.getQueryData<TaskLog>(['logs', 't'])).toEqual({ lines: [] });
    expect(live.invalidMessages).toBe(frames.length);
  });

  it('logs the first dropped frame with its problem, and only counts the ones after it', () => {
    socket.deliver({ type: 'job.updated', topic: 'jobs', data: { ...job('running'), status: 'exploded' } });
    socket.deliver('not json {');
    expect(console.warn).toHaveBeenCalledOnce();
    expect(vi.mocked(console.warn).mock.calls[0]![0]).toMatch(/^Dropped a WebSocket message .*\(data\.status: /);
    expect(live.invalidMessages).toBe(2);
  });
});

describe('reconnecting', () => {
  const invalidated = (key: unknown[]) => queries.getQueryState(key)?.isInvalidated ?? false;
  const sent = (on: FakeSocket) => on.sent.map((frame) => JSON.parse(frame) as Record<string, unknown>);
  const released: Array<() => void> = [];

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['setTimeout'] });
    queries.setQueryData(['runners'], { items: [] });
    // Wanted before the socket opens, as a page's effects run before the app's.
    released.push(wantTopic('jobs'), wantTopic('task:t'));
    setLive(live);
  });
  afterEach(() => {
    for (const release of released.splice(0)) release();
    setLive(null);
  });

  /** Drops the socket (unless dropped already) and lets the reconnect timer fire: the new socket, opened. */
  function dropAndReconnect(): FakeSocket {
    socket.onclose?.();
    vi.advanceTimersByTime(30_000);
    const next = FakeSocket.last!;
    expect(next).not.toBe(socket);
    next.onopen?.();
    return next;
  }

  it('resumes every topic it held from the last id received, and fetches nothing again', () => {
    socket.onopen?.();
    expect(sent(socket)[1]).toEqual({ type: 'subscribe', topics: ['jobs', 'task:t'] });
    socket.deliver({ type: 'subscribed', topics: ['jobs', 'task:t'], id: 'E.5' });
    socket.deliver({ type: 'job.updated', topic: 'jobs', id: 'E.9', data: job('running') });

    const next = dropAndReconnect();
    expect(sent(next)).toEqual([
      { type: 'auth', token: 'user-token' },
      { type: 'subscribe', topics: ['jobs', 'task:t'], since: { jobs: 'E.9', 'task:t': 'E.9' } },
    ]);
    expect(invalidated(['jobs', {}])).toBe(false);
    expect(invalidated(['logs', 't'])).toBe(false);
    expect(invalidated(['runners'])).toBe(false);
  });

  it('fetches again only what a topic told to resync shows', () => {
    socket.onopen?.();
    socket.deliver({ type: 'subscribed', topics: ['jobs', 'task:t'], id: 'E.5' });
    const next = dropAndReconnect();
    next.deliver({ type: 'resync', topic: 'task:t', reason: 'unknown_epoch' });
    next.deliver({ type: 'subscribed', topics: ['jobs', 'task:t'], id: 'F.1' });
    expect(invalidated(['logs', 't'])).toBe(true);
    expect(invalidated(['jobs', {}])).toBe(false);

    // Where the new socket stands is the new replica's id.
    socket = next;
    const third = dropAndReconnect();
    expect(sent(third)[1]).toMatchObject({ since: { jobs: 'F.1', 'task:t': 'F.1' } });
  });

  it('fetches again a topic wanted while the socket was down, and every topic when no id had come', () => {
    socket.onopen?.();
    socket.deliver({ type: 'subscribed', topics: ['jobs'], id: 'E.5' });
    // `task:t` was asked for but not confirmed before the drop; `runners` is wanted while down.
    socket.onclose?.();
    released.push(wantTopic('runners'));
    const next = dropAndReconnect();
    expect(sent(next)[1]).toEqual({ type: 'subscribe', topics: ['jobs', 'task:t', 'runners'], since: { jobs: 'E.5' } });
    expect(invalidated(['jobs', {}])).toBe(false);
    expect(invalidated(['logs', 't'])).toBe(true);
    expect(invalidated(['runners'])).toBe(true);

    socket = next;
    const third = dropAndReconnect();
    expect(sent(third)[1]).toEqual({ type: 'subscribe', topics: ['jobs', 'task:t', 'runners'] });
    expect(invalidated(['jobs', {}])).toBe(true);
  });

  it('does not resume a topic it unsubscribed', () => {
    socket.onopen?.();
    socket.deliver({ type: 'subscribed', topics: ['jobs', 'task:t'], id: 'E.5' });
    released.shift()!(); // no component wants `jobs` any more
    const next = dropAndReconnect();
    expect(sent(next)[1]).toEqual({ type: 'subscribe', topics: ['task:t'], since: { 'task:t': 'E.5' } });
  });
});
