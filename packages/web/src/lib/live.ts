import type { ClientMessage, Job, JobPage, JobWithTasks, LogLine, Runner, ServerMessage } from '@borg/protocol';
import type { QueryClient, QueryKey } from '@tanstack/react-query';
import { useEffect } from 'react';

import { jobChangedForDependencies } from '../pages/jobs/dependency-live.ts';
import { applyTaskEvent } from '../pages/jobs/element-states.ts';
import { storedToken } from './api.ts';
import { filtersOfJobList, queryKeys } from './query-keys.ts';
import { readServerMessage } from './read-server-message.ts';

/** The log lines of one task as the viewer holds them: in order, without duplicates. */
export interface TaskLog {
  lines: LogLine[];
}

type Pages = { pages: JobPage[]; pageParams: unknown[] };

/** Where a dropped socket stood: the last id it received, and the topics it held then. */
interface Resume {
  id: string | null;
  topics: ReadonlySet<string>;
}

/**
 * One WebSocket for the page. Components ask for topics with `useTopic`; each event patches the
 * TanStack Query cache in place, so lists and details update without polling. After a reconnect
 * the topics are resumed from the last id received (docs/live-events.md): the server sends the
 * events missed, and only the queries of a topic it cannot resume (`resync`), or of one
 * subscribed while the socket was down, are fetched again.
 */
export class Live {
  private socket: WebSocket | null = null;
  private readonly counts = topicCounts;
  private retry = 0;
  private closed = false;
  /** The last id received on this socket: where it stands on every topic it holds. */
  private position: string | null = null;
  /** Topics the server confirmed on this socket (`subscribed`) and not unsubscribed since. */
  private readonly held = new Set<string>();
  /** Set when a socket drops, read when the next one opens. */
  private resumeFrom: Resume | null = null;
  /** Frames dropped because they were not a valid server message; only the first is logged. */
  invalidMessages = 0;

  // A busy queue sends hundreds of job events a second: refetch lists and counts at most once
  // a second for them (the last event of a burst is always followed by a refetch).
  private readonly refetchLists = atMostEvery(
    1000,
    () => void this.queries.invalidateQueries({ queryKey: queryKeys.jobLists() }),
  );
  private readonly refetchStats = atMostEvery(
    1000,
    () => void this.queries.invalidateQueries({ queryKey: queryKeys.stats() }),
  );

  constructor(private readonly queries: QueryClient) {}

  start(): void {
    this.closed = false;
    this.connect();
  }

  stop(): void {
    this.closed = true;
    this.socket?.close();
    this.socket = null;
  }

  send(message: ClientMessage): void {
    if (message.type === 'unsubscribe') for (const topic of message.topics) this.held.delete(topic);
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
  }

  private connect(): void {
    const token = storedToken();
    if (!token || this.closed) return;
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    // A browser cannot set headers on a WebSocket, and a token in the URL would stay in proxy
    // logs and the history: the token goes in the first message, and the server handles the
    // subscription sent right after it once it has accepted the token.
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    socket.onopen = () => {
      this.retry = 0;
      this.send({ type: 'auth', token });
      this.subscribeAll(this.resumeFrom);
      this.resumeFrom = null;
    };
    socket.onmessage = (event) => this.receiveFrame(String(event.data));
    socket.onclose = () => {
      if (this.socket !== socket || this.closed) return;
      this.socket = null;
      this.resumeFrom = { id: this.position, topics: new Set(this.held) };
      this.position = null;
      this.held.clear();
      const delay = Math.min(30_000, 500 * 2 ** this.retry++) * (0.5 + Math.random() / 2);
      setTimeout(() => this.connect(), delay);
    };
  }

  /**
   * Subscribes every wanted topic on a socket just opened. After a drop, a topic the last socket
   * held resumes from its last id; any other (wanted while the socket was down), or every one
   * when no id was received, may have missed events since its data was read: read again.
   */
  private subscribeAll(resume: Resume | null): void {
    if (this.counts.size === 0) return;
    const topics = [...this.counts.keys()];
    const since: Record<string, string> = {};
    for (const topic of topics) {
      if (resume?.id && resume.topics.has(topic)) since[topic] = resume.id;
      else if (resume) this.refetchTopic(topic);
    }
    this.send({ type: 'subscribe', topics, ...(Object.keys(since).length > 0 ? { since } : {}) });
  }

  /** Fetches again what a topic's events keep current. */
  private refetchTopic(topic: string): void {
    for (const queryKey of queriesOfTopic(topic)) void this.queries.invalidateQueries({ queryKey });
  }

  /** A frame from the socket: applied when it is a valid server message, dropped otherwise. */
  receiveFrame(data: string): void {
    const read = readServerMessage(data);
    if ('message' in read) return this.receive(read.message);
    if (this.invalidMessages++ === 0) {
      console.warn(
        `Dropped a WebSocket message that does not match the protocol (${read.problem}); ` +
          'further ones are dropped and counted without a log.',
      );
    }
  }

  /** Applies a server message, already validated, to the cache. */
  receive(message: ServerMessage): void {
    if ('id' in message && message.id !== undefined) this.position = message.id;
    switch (message.type) {
      case 'subscribed':
        for (const topic of message.topics) if (this.counts.has(topic)) this.held.add(topic);
        return;
      case 'resync':
        return this.refetchTopic(message.topic);
      case 'job.updated':
        return this.jobUpdated(message.data);
      case 'task.updated': {
        const task = message.data;
        applyTaskEvent(task);
        this.patchJob(task.job_id, (job) => {
          const tasks = job.tasks.some((t) => t.id === task.id)
            ? job.tasks.map((t) => (t.id === task.id ? task : t))
            : [...job.tasks, task];
          return { ...job, tasks };
        });
        // Artifacts are uploaded before a task reports its end: list them again then.
        if (!['pending', 'assigned', 'running'].includes(task.status)) {
          void this.queries.invalidateQueries({ queryKey: queryKeys.artifacts(task.id) });
        }
        return;
      }
      case 'runner.updated':
        return this.runnerUpdated(message.data);
      case 'task.log':
        this.queries.setQueryData<TaskLog>(queryKeys.taskLog(message.data.task_id), (log) =>
          log ? { lines: appendLines(log.lines, message.data.lines) } : log,
        );
        return;
      case 'jobs.deleted':
        return this.jobsDeleted(message.data.ids);
      default:
        return;
    }
  }

  /**
   * Patches a job's detail. A fetch of it already in flight (a page's action invalidates it) may
   * have been answered before this event, and would overwrite the patch with the older state
   * when it lands; so an event never leaves such a fetch running: it is replaced by one started
   * now, whose answer includes the event.
   */
  private patchJob(id: string, patch: (job: JobWithTasks) => JobWithTasks): void {
    const key = queryKeys.job(id);
    this.queries.setQueryData<JobWithTasks>(key, (old) => (old ? patch(old) : old));
    if (this.queries.isFetching({ queryKey: key, exact: true }) > 0) {
      void this.queries.invalidateQueries({ queryKey: key, exact: true }, { cancelRefetch: true });
    }
  }

  /** Deleted jobs leave every list at once; an open job page reads again and says the job is gone. */
  private jobsDeleted(ids: readonly string[]): void {
    const gone = new Set(ids);
    for (const [key, data] of this.queries.getQueriesData<Pages>({ queryKey: queryKeys.jobLists() })) {
      if (!data) continue;
      const pages = data.pages.map((p) => ({ ...p, items: p.items.filter((j) => !gone.has(j.id)) }));
      this.queries.setQueryData<Pages>(key, { ...data, pages });
    }
    for (const id of ids) void this.queries.invalidateQueries({ queryKey: queryKeys.job(id), exact: true });
    this.refetchStats();
  }

  private jobUpdated(job: Job): void {
    jobChangedForDependencies(this.queries, job);
    this.patchJob(job.id, (old) => ({ ...old, ...job }));
    let known = false;
    let leftFilter = false;
    for (const [key, data] of this.queries.getQueriesData<Pages>({ queryKey: queryKeys.jobLists() })) {
      if (!data) continue;
      const status = filtersOfJobList(key)?.status;
      const statuses = typeof status === 'string' ? status.split(',') : status;
      const pages = data.pages.map((p) => ({
        ...p,
        items: p.items.map((j) => {
          if (j.id !== job.id) return j;
          known = true;
          if (statuses && !statuses.includes(job.status)) leftFilter = true;
          return job;
        }),
      }));
      this.queries.setQueryData(key, { ...data, pages });
    }
    // A job the lists have not seen (just created, or it now matches a filter), or one that no
    // longer matches a list's status filter: fetch the lists again.
    if (!known || leftFilter) this.refetchLists();
    this.refetchStats();
  }

  private runnerUpdated(runner: Runner): void {
    this.queries.setQueryData<{ items: Runner[] }>(queryKeys.runners(), (list) => {
      if (!list) return list;
      const items = list.items.some((r) => r.id === runner.id)
        ? list.items.map((r) => (r.id === runner.id ? runner : r))
        : [...list.items, runner];
      return { ...list, items };
    });
    this.queries.setQueryData<Runner>(queryKeys.runner(runner.id), (old) => (old ? runner : old));
  }
}

/**
 * The query keys (prefixes) whose data a topic's events keep current: what a topic that could
 * not be resumed fetches again.
 */
export function queriesOfTopic(topic: string): QueryKey[] {
  if (topic === 'runners') return [queryKeys.runners(), ['runner'], ['runner-tasks']];
  if (topic === 'jobs') {
    return [
      queryKeys.jobLists(),
      queryKeys.stats(),
      ['job'],
      ['job-elements'],
      queryKeys.jobGraphs(),
      ['overview'],
      ['job-placement'],
      ['runner-tasks'],
    ];
  }
  const [kind, id] = [topic.slice(0, topic.indexOf(':')), topic.slice(topic.indexOf(':') + 1)];
  if (kind === 'job') return [queryKeys.job(id), queryKeys.jobElements(id), queryKeys.jobGraphs()];
  if (kind === 'task') return [queryKeys.taskLog(id), queryKeys.artifacts(id), queryKeys.taskPlacement(id)];
  return [];
}

/**
 * Merges lines into the held ones: in index order, without duplicates. New lines usually come
 * after the last one held (a plain append); lines fetched to fill a gap are merged in.
 */
export function appendLines(held: LogLine[], incoming: LogLine[]): LogLine[] {
  if (incoming.length === 0) return held;
  const last = held.length > 0 ? held[held.length - 1]!.index : -1;
  const sorted = [...incoming].sort((a, b) => a.index - b.index);
  if (sorted[0]!.index > last) {
    const fresh = sorted.filter((l, i) => i === 0 || l.index !== sorted[i - 1]!.index);
    return [...held, ...fresh];
  }
  const byIndex = new Map(held.map((l) => [l.index, l]));
  for (const line of sorted) if (!byIndex.has(line.index)) byIndex.set(line.index, line);
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

/**
 * The index of the last line before the first missing one (-1 when line 0 is missing). Lines
 * are numbered from 0 without gaps, so line i sits at position i exactly up to the first gap.
 */
export function contiguousEnd(lines: readonly LogLine[]): number {
  let low = 0;
  let high = lines.length - 1;
  let end = -1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    if (lines[mid]!.index === mid) {
      end = mid;
      low = mid + 1;
    } else high = mid - 1;
  }
  return end;
}

/**
 * Calls `fn` at once, then at most once per `ms`: calls inside the interval are folded into one
 * at its end, so the last call is never lost.
 */
export function atMostEvery(ms: number, fn: () => void): () => void {
  let last = -Infinity;
  let pending: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (pending) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) {
      last = Date.now();
      fn();
      return;
    }
    pending = setTimeout(() => {
      pending = null;
      last = Date.now();
      fn();
    }, wait);
  };
}

let current: Live | null = null;

/**
 * Topics wanted by mounted components, kept outside the connection: a page's effects run before
 * the app's, so a topic can be wanted before the socket exists; it is subscribed on open.
 */
const topicCounts = new Map<string, number>();

/** Wants a topic until the returned function is called (`useTopic` in components). */
export function wantTopic(topic: string): () => void {
  const count = topicCounts.get(topic) ?? 0;
  topicCounts.set(topic, count + 1);
  if (count === 0) current?.send({ type: 'subscribe', topics: [topic] });
  return () => {
    const left = (topicCounts.get(topic) ?? 1) - 1;
    if (left > 0) return void topicCounts.set(topic, left);
    topicCounts.delete(topic);
    current?.send({ type: 'unsubscribe', topics: [topic] });
  };
}

export function setLive(live: Live | null): void {
  current = live;
}

/** Keeps a topic subscribed while the component is mounted. */
export function useTopic(topic: string | null): void {
  useEffect(() => {
    if (!topic) return;
    return wantTopic(topic);
  }, [topic]);
}
