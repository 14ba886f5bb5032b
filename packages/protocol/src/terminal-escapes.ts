/**
 * Splits text that a task or another user wrote (log lines, job names) into plain text and the
 * terminal escape sequences and control characters inside it, by the shapes of ECMA-48. It only
 * recognises; each reader decides what a sequence may do: the CLI passes SGR colours to the
 * user's terminal and removes the rest, the dashboard turns SGR into styles and shows nothing else.
 *
 * Both readers depend on one rule, so it is decided here once: a sequence's extent. Whatever a
 * terminal would consume as part of a sequence is part of the token, never text, so no reader can
 * print half of one.
 * - CSI: ESC [, parameter bytes (0x30–0x3F), intermediate bytes (0x20–0x2F), one final byte
 *   (0x40–0x7E); cut off (no final byte) it ends where those bytes end.
 * - OSC (ESC ]) and DCS, SOS, PM, APC (ESC P, X, ^, _): everything up to BEL or ST (ESC \);
 *   unterminated, to the end of the text, since a terminal would swallow what follows.
 * - Any other escape: ESC, intermediates (0x20–0x2F), one final byte (0x30–0x7E) if present.
 * - C0 controls, DEL and C1 controls (U+0080–U+009F) are one token each. A C1 introducer such
 *   as U+009B (a one-byte CSI) does not start a sequence: it is a control, and what follows it is
 *   text.
 */

/** Plain text: no control character in it. */
export interface TextToken {
  kind: 'text';
  text: string;
}

/** One C0 control (tab and newline included), DEL or C1 control. */
export interface ControlToken {
  kind: 'control';
  raw: string;
}

/** ESC [ … final: SGR colours (final `m`), cursor movement, erasing, modes. */
export interface CsiToken {
  kind: 'csi';
  raw: string;
  params: string;
  intermediates: string;
  /** The final byte; '' when the sequence was cut off. */
  final: string;
}

/** ESC ] command ; data: window titles (0, 2), hyperlinks (8), clipboard writes (52). */
export interface OscToken {
  kind: 'osc';
  raw: string;
  /** What precedes the first ';', e.g. '8' for a hyperlink's start or end. */
  command: string;
  /** What follows the first ';'; for OSC 8, `params;uri` (an empty uri ends the link). */
  data: string;
  terminated: boolean;
}

/** ESC P, X, ^ or _ … ST: a device control string (DCS), SOS, PM or APC. */
export interface ControlStringToken {
  kind: 'control-string';
  raw: string;
  introducer: 'P' | 'X' | '^' | '_';
  data: string;
  terminated: boolean;
}

/** Any other escape: ESC, intermediates, final (ESC c resets the terminal, ESC ( B picks a charset). */
export interface EscapeToken {
  kind: 'escape';
  raw: string;
  intermediates: string;
  /** The final byte; '' for a lone ESC. */
  final: string;
}

export type TerminalToken = TextToken | ControlToken | CsiToken | OscToken | ControlStringToken | EscapeToken;

const ESC = 0x1b;
const BEL = 0x07;

function isControl(code: number): boolean {
  return code < 0x20 || (code >= 0x7f && code <= 0x9f);
}

/** True when the text holds a control character, so tokenizing can change it; plain text costs one scan. */
export function hasTerminalControls(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (isControl(text.charCodeAt(i))) return true;
  }
  return false;
}

/** The text as tokens in order; joining every token's text or raw gives the text back. */
export function tokenizeTerminalEscapes(text: string): TerminalToken[] {
  const tokens: TerminalToken[] = [];
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && !isControl(text.charCodeAt(i))) i++;
    if (i > start) tokens.push({ kind: 'text', text: text.slice(start, i) });
    if (i === text.length) break;
    const token = text.charCodeAt(i) === ESC ? readEscape(text, i) : { kind: 'control' as const, raw: text[i]! };
    tokens.push(token);
    i += token.raw.length;
  }
  return tokens;
}

/** Advances past the characters in [low, high] from `at`. */
function skipRange(text: string, at: number, low: number, high: number): number {
  let i = at;
  while (i < text.length) {
    const code = text.charCodeAt(i);
    if (code < low || code > high) break;
    i++;
  }
  return i;
}

/** The sequence that starts with the ESC at `at`. */
function readEscape(text: string, at: number): CsiToken | OscToken | ControlStringToken | EscapeToken {
  const introducer = text[at + 1];
  if (introducer === '[') return readCsi(text, at);
  if (introducer === ']' || introducer === 'P' || introducer === 'X' || introducer === '^' || introducer === '_') {
    return readString(text, at, introducer);
  }
  const finalAt = skipRange(text, at + 1, 0x20, 0x2f);
  const code = text.charCodeAt(finalAt);
  const end = code >= 0x30 && code <= 0x7e ? finalAt + 1 : finalAt;
  return {
    kind: 'escape',
    raw: text.slice(at, end),
    intermediates: text.slice(at + 1, finalAt),
    final: text.slice(finalAt, end),
  };
}

function readCsi(text: string, at: number): CsiToken {
  const paramsEnd = skipRange(text, at + 2, 0x30, 0x3f);
  const intermediatesEnd = skipRange(text, paramsEnd, 0x20, 0x2f);
  const code = text.charCodeAt(intermediatesEnd);
  const end = code >= 0x40 && code <= 0x7e ? intermediatesEnd + 1 : intermediatesEnd;
  return {
    kind: 'csi',
    raw: text.slice(at, end),
    params: text.slice(at + 2, paramsEnd),
    intermediates: text.slice(paramsEnd, intermediatesEnd),
    final: text.slice(intermediatesEnd, end),
  };
}

/** OSC, DCS, SOS, PM or APC: up to the first BEL or ST, or to the end of the text. */
function readString(text: string, at: number, introducer: ']' | 'P' | 'X' | '^' | '_'): OscToken | ControlStringToken {
  const dataStart = at + 2;
  let dataEnd = text.length;
  let end = text.length;
  for (let i = dataStart; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === BEL) {
      dataEnd = i;
      end = i + 1;
      break;
    }
    if (code === ESC && text[i + 1] === '\\') {
      dataEnd = i;
      end = i + 2;
      break;
    }
  }
  const raw = text.slice(at, end);
  const data = text.slice(dataStart, dataEnd);
  const terminated = end > dataEnd;
  if (introducer !== ']') return { kind: 'control-string', raw, introducer, data, terminated };
  const separator = data.indexOf(';');
  return separator === -1
    ? { kind: 'osc', raw, command: data, data: '', terminated }
    : { kind: 'osc', raw, command: data.slice(0, separator), data: data.slice(separator + 1), terminated };
}
