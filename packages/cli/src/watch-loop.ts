import type { Connection } from './client-from-config.ts';
import { LiveEvents } from './live-events.ts';
import { Output } from './output.ts';

/** Redraws at least this often (relative times move), and within ~200 ms of an event. */
const REFRESH_MS = 2000;
const EVENT_DEBOUNCE_MS = 200;

/**
 * `--watch`: renders a view again whenever the mothership says something changed (WebSocket
 * events on `topics`) and every 2 s regardless. On a terminal the screen is redrawn in place;
 * into a pipe, or with `-o json` (one JSON document per line), a snapshot is printed only when
 * it differs from the last, so a log of `borg jobs list --watch` is a log of changes.
 *
 * `render` draws into the Output it is given and returns a value to stop with, or undefined to
 * go on.
 */
export async function watch<T>(
  out: Output,
  conn: Connection,
  topics: string[],
  render: (into: Output) => Promise<T | undefined>,
): Promise<T> {
  let wake: (() => void) | undefined;
  let pending: NodeJS.Timeout | undefined;
  const live = new LiveEvents(conn.addr, conn.token, () => {
    pending ??= setTimeout(() => {
      pending = undefined;
      wake?.();
    }, EVENT_DEBOUNCE_MS);
  });
  await live.connect();
  live.subscribe(topics);
  let last: string | undefined;
  try {
    for (;;) {
      let text = '';
      const buffer = { write: (s: string) => (text += s), isTTY: out.stdout.isTTY };
      const into = new Output(out.format, out.colorOut, buffer, out.stderr);
      const result = await render(into);
      if (text !== last) {
        // Home, draw, clear what the previous frame left below.
        if (out.stdoutIsTerminal && !out.json) out.stdout.write(`\u001b[H\u001b[2J${text}`);
        else out.stdout.write(text);
        last = text;
      }
      if (result !== undefined) return result;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, REFRESH_MS);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    clearTimeout(pending);
    live.close();
  }
}
