import { type CsiToken, hasTerminalControls, tokenizeTerminalEscapes } from '@borg/protocol';

/**
 * Makes text from a task (log lines) or from other users (job names, labels) safe to print on
 * the user's terminal (B12 of the reliability plan). A task's output is not trusted: an OSC 52
 * sequence writes the clipboard, OSC 0/2 retitle the window, OSC 8 plants links, cursor movement
 * and `\r` rewrite lines already printed (B11), and C1 controls (0x9B is a one-byte CSI) do the
 * same on terminals that honour them. Only SGR (`ESC [ … m`, colours and bold) passes, and only
 * when colours are wanted; every other escape sequence and control character but tab is removed.
 * Where a sequence ends is the shared tokenizer's rule (@borg/protocol terminal-escapes.ts).
 */

export interface TerminalSafeOptions {
  /** Keep SGR colour sequences (a terminal with colours on); otherwise they go too. */
  keepColors: boolean;
}

export function terminalSafe(text: string, options: TerminalSafeOptions): string {
  if (!hasTerminalControls(text)) return text;
  let out = '';
  for (const token of tokenizeTerminalEscapes(text)) {
    if (token.kind === 'text') out += token.text;
    else if (token.kind === 'control' && token.raw === '\t') out += token.raw;
    else if (token.kind === 'csi' && options.keepColors && isSgr(token)) out += token.raw;
  }
  return out;
}

/** SGR: ESC [ parameters m, where parameters are only digits, ';' and ':' (256-colour and RGB). */
function isSgr(token: CsiToken): boolean {
  return token.final === 'm' && token.intermediates === '' && /^[0-9;:]*$/.test(token.params);
}
