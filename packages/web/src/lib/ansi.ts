import { tokenizeTerminalEscapes } from '@borg/protocol';

/**
 * A deliberately small ANSI interpreter for log lines. It never produces markup: it turns a
 * line into plain-text spans plus a style taken from a closed set (colour numbers, bold, …),
 * and React renders the text as text. Only SGR (`ESC [ … m`) is interpreted; every other
 * escape sequence (OSC 8 hyperlinks, window titles, cursor moves, erases) and every control
 * character but tab and newline is dropped, so nothing in a log can link, move, or execute.
 * Where a sequence ends is the shared tokenizer's rule (@borg/protocol terminal-escapes.ts).
 */

export interface AnsiStyle {
  /** 0-255 palette index, or an `rgb(r, g, b)` string for 24-bit colour. */
  fg?: number | string;
  bg?: number | string;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface AnsiSpan {
  text: string;
  style: AnsiStyle;
}

/** Control characters that stay in the text; every other one is removed. */
const KEPT_CONTROLS = new Set(['\t', '\n']);

const clamp = (n: number) => Math.min(255, Math.max(0, n));

function applySgr(style: AnsiStyle, params: string): AnsiStyle {
  const codes = params === '' ? [0] : params.split(/[;:]/).map((p) => (p === '' ? 0 : Number(p)));
  let next = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const code = codes[i]!;
    if (!Number.isFinite(code)) continue;
    if (code === 0) next = {};
    else if (code === 1) next.bold = true;
    else if (code === 2) next.dim = true;
    else if (code === 3) next.italic = true;
    else if (code === 4) next.underline = true;
    else if (code === 7) next.inverse = true;
    else if (code === 22) next.bold = next.dim = false;
    else if (code === 23) next.italic = false;
    else if (code === 24) next.underline = false;
    else if (code === 27) next.inverse = false;
    else if (code >= 30 && code <= 37) next.fg = code - 30;
    else if (code >= 90 && code <= 97) next.fg = code - 90 + 8;
    else if (code === 39) delete next.fg;
    else if (code >= 40 && code <= 47) next.bg = code - 40;
    else if (code >= 100 && code <= 107) next.bg = code - 100 + 8;
    else if (code === 49) delete next.bg;
    else if (code === 38 || code === 48) {
      const key = code === 38 ? 'fg' : 'bg';
      if (codes[i + 1] === 5 && codes[i + 2] !== undefined) {
        next[key] = clamp(codes[i + 2]!);
        i += 2;
      } else if (codes[i + 1] === 2 && codes[i + 4] !== undefined) {
        next[key] = `rgb(${clamp(codes[i + 2]!)}, ${clamp(codes[i + 3]!)}, ${clamp(codes[i + 4]!)})`;
        i += 4;
      }
    }
  }
  return next;
}

/** Splits one log line into styled text spans; the style starts plain on every line. */
export function parseAnsi(line: string): AnsiSpan[] {
  const spans: AnsiSpan[] = [];
  let style: AnsiStyle = {};
  const push = (text: string) => {
    const previous = spans[spans.length - 1];
    if (previous && previous.style === style) previous.text += text;
    else spans.push({ text, style });
  };
  for (const token of tokenizeTerminalEscapes(line)) {
    if (token.kind === 'text') push(token.text);
    else if (token.kind === 'control' && KEPT_CONTROLS.has(token.raw)) push(token.raw);
    else if (token.kind === 'csi' && token.final === 'm' && token.intermediates === '') {
      style = applySgr(style, token.params);
    }
  }
  return spans;
}

/** The line's text with every escape sequence and control character removed (search, download). */
export function stripAnsi(line: string): string {
  let text = '';
  for (const token of tokenizeTerminalEscapes(line)) {
    if (token.kind === 'text') text += token.text;
    else if (token.kind === 'control' && KEPT_CONTROLS.has(token.raw)) text += token.raw;
  }
  return text;
}

/** The 16 basic colours, as fixed class names (a closed set: nothing from the log reaches a class). */
const BASIC_FG = [
  'text-zinc-900',
  'text-red-500',
  'text-green-500',
  'text-yellow-500',
  'text-blue-400',
  'text-fuchsia-500',
  'text-cyan-500',
  'text-zinc-300',
  'text-zinc-500',
  'text-red-400',
  'text-green-400',
  'text-yellow-300',
  'text-blue-300',
  'text-fuchsia-400',
  'text-cyan-300',
  'text-white',
];
const BASIC_BG = [
  'bg-zinc-900',
  'bg-red-700',
  'bg-green-700',
  'bg-yellow-700',
  'bg-blue-700',
  'bg-fuchsia-700',
  'bg-cyan-700',
  'bg-zinc-300',
  'bg-zinc-600',
  'bg-red-500',
  'bg-green-500',
  'bg-yellow-500',
  'bg-blue-500',
  'bg-fuchsia-500',
  'bg-cyan-500',
  'bg-white',
];

/** xterm's 256-colour palette entry as a CSS colour. */
export function paletteColour(n: number): string {
  if (n < 16)
    return [
      '#000',
      '#c00',
      '#0a0',
      '#cc0',
      '#36f',
      '#c0c',
      '#0cc',
      '#ccc',
      '#666',
      '#f55',
      '#5f5',
      '#ff5',
      '#77f',
      '#f5f',
      '#5ff',
      '#fff',
    ][n]!;
  if (n < 232) {
    const v = [0, 95, 135, 175, 215, 255];
    const i = n - 16;
    return `rgb(${v[Math.floor(i / 36)]}, ${v[Math.floor(i / 6) % 6]}, ${v[i % 6]})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g}, ${g}, ${g})`;
}

/** Class names and inline colours for a span (inline styles are set through the CSSOM, which CSP allows). */
export function styleOf(style: AnsiStyle): { className: string; css: { color?: string; backgroundColor?: string } } {
  const classes: string[] = [];
  const css: { color?: string; backgroundColor?: string } = {};
  let fg = style.fg;
  let bg = style.bg;
  if (style.inverse) [fg, bg] = [bg ?? 7, fg ?? 0];
  if (typeof fg === 'number' && fg < 16) classes.push(BASIC_FG[fg]!);
  else if (fg !== undefined) css.color = typeof fg === 'number' ? paletteColour(fg) : fg;
  if (typeof bg === 'number' && bg < 16) classes.push(BASIC_BG[bg]!);
  else if (bg !== undefined) css.backgroundColor = typeof bg === 'number' ? paletteColour(bg) : bg;
  if (style.bold) classes.push('font-bold');
  if (style.dim) classes.push('opacity-60');
  if (style.italic) classes.push('italic');
  if (style.underline) classes.push('underline');
  return { className: classes.join(' '), css };
}
