import { describe, expect, it } from 'vitest';

import { terminalSafe } from '../src/terminal-safe.ts';

const ESC = '\u001b';
const BEL = '\u0007';
const colors = { keepColors: true };
const plain = { keepColors: false };

describe('terminalSafe (B11, B12: a task cannot drive the terminal that shows its log)', () => {
  it('leaves plain text, tabs and Unicode alone', () => {
    for (const text of ['hello', 'a\tb', 'café 😀 عربى', '']) expect(terminalSafe(text, colors)).toBe(text);
  });

  it('keeps SGR colours when colours are on, drops them when off', () => {
    const red = `${ESC}[31mred${ESC}[0m ${ESC}[1;38;5;208mbold orange${ESC}[m ${ESC}[38:2::255:0:0mrgb${ESC}[0m`;
    expect(terminalSafe(red, colors)).toBe(red);
    expect(terminalSafe(red, plain)).toBe('red bold orange rgb');
  });

  it.each([
    ['OSC 52 clipboard write (BEL)', `${ESC}]52;c;ZXZpbA==${BEL}after`, 'after'],
    ['OSC 52 clipboard write (ST)', `${ESC}]52;c;ZXZpbA==${ESC}\\after`, 'after'],
    ['OSC 0 title', `${ESC}]0;pwned${BEL}text`, 'text'],
    ['OSC 2 title', `${ESC}]2;pwned${ESC}\\text`, 'text'],
    ['OSC 8 javascript: link', `${ESC}]8;;javascript:alert(1)${BEL}click${ESC}]8;;${BEL}`, 'click'],
    ['OSC 8 data: link with ST', `${ESC}]8;;data:text/html,x${ESC}\\click${ESC}]8;;${ESC}\\`, 'click'],
    ['an unterminated OSC swallows the rest', `before${ESC}]0;never ends`, 'before'],
    ['cursor up', `${ESC}[2Aup`, 'up'],
    ['erase display', `${ESC}[2Jclear`, 'clear'],
    ['private mode (alternate screen)', `${ESC}[?1049hscreen`, 'screen'],
    ['DCS', `${ESC}Pq#0;2;0;0;0${ESC}\\sixel`, 'sixel'],
    ['terminal reset (ESC c)', `${ESC}creset`, 'reset'],
    ['carriage return rewriting the line', 'progress 10%\rprogress 100%', 'progress 10%progress 100%'],
    ['backspace, bell, NUL, vertical tab', `a\bb${BEL}c\u0000d\u000be`, 'abcde'],
    ['C1 CSI (0x9B) and OSC (0x9D)', '\u009b2Jx\u009d0;t\u009cy', '2Jx0;ty'],
    ['DEL', 'a\u007fb', 'ab'],
    ['a lone ESC at the end', `text${ESC}`, 'text'],
  ])('removes %s', (_name, input, expected) => {
    expect(terminalSafe(input, colors)).toBe(expected);
    expect(terminalSafe(input, plain)).toBe(expected);
  });

  it('an SGR sequence cannot smuggle anything else', () => {
    // Parameters of SGR are digits, ";" and ":" only; anything else makes it some other CSI.
    expect(terminalSafe(`${ESC}[31;?m${ESC}[31mok`, colors)).toBe(`${ESC}[31mok`);
  });
});
