// @vitest-environment jsdom
import type { Job, JobPage } from '@borg/protocol';
import { QueryClient } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { storeToken } from '../src/lib/api.ts';
import { Live, type TaskLog } from '../src/lib/live.ts';
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
