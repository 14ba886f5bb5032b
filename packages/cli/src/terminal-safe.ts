/* eslint-disable no-control-regex -- matching escape and control characters is this file's job */
/**
 * Makes text from a task (log lines) or from other users (job names, labels) safe to print on
 * the user's terminal (B12 of the reliability plan). A task's output is not trusted: an OSC 52
 * sequence writes the clipboard, OSC 0/2 retitle the window, OSC 8 plants links, cursor movement
 * and `\r` rewrite lines already printed (B11), and C1 controls (0x9B is a one-byte CSI) do the
 * same on terminals that honour them. Only SGR (`ESC [ … m`, colours and bold) passes, and only
 * when colours are wanted; every other escape sequence and control character is removed.
 */

const ESC = '\u001b';

/** SGR: ESC [ parameters m, where parameters are digits, ';' and ':' (for 256-colour and RGB). */
const SGR = /^\u001b\[[0-9;:]*m/;

/**
 * The other escape sequences, by ECMA-48 shape:
 * - CSI: ESC [ parameter bytes (0x30–0x3F), intermediates (0x20–0x2F), one final byte (0x40–0x7E);
 * - OSC, DCS, SOS, PM, APC: ESC ] P X ^ _ … up to ST (ESC \) or BEL, or to the end of the line
 *   when unterminated (a terminal would swallow what follows, so we do too);
 * - any other: ESC, intermediates, one final byte (e.g. ESC c resets the terminal).
 */
const CSI = /^\u001b\[[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?/;
const STRING_SEQUENCE = /^\u001b[\]PX^_][\s\S]*?(?:\u0007|\u001b\\|$)/;
const OTHER_ESCAPE = /^\u001b[\x20-\x2f]*[\x30-\x7e]?/;

/** C0 controls but tab, DEL, and the C1 range U+0080–U+009F. */
const CONTROL = /[\u0000-\u0008\u000a-\u001a\u001c-\u001f\u007f-\u009f]/g;

export interface TerminalSafeOptions {
  /** Keep SGR colour sequences (a terminal with colours on); otherwise they go too. */
  keepColors: boolean;
}

export function terminalSafe(text: string, options: TerminalSafeOptions): string {
  if (!needsWork(text)) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const next = text.indexOf(ESC, i);
    if (next === -1) {
      out += text.slice(i).replace(CONTROL, '');
      break;
    }
    out += text.slice(i, next).replace(CONTROL, '');
    const rest = text.slice(next);
    const sgr = SGR.exec(rest);
    if (sgr) {
      if (options.keepColors) out += sgr[0];
      i = next + sgr[0].length;
      continue;
    }
    const sequence = CSI.exec(rest) ?? STRING_SEQUENCE.exec(rest) ?? OTHER_ESCAPE.exec(rest);
    i = next + Math.max(1, sequence?.[0].length ?? 1);
  }
  return out;
}

/** The common case, plain text, costs one scan. */
function needsWork(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}
