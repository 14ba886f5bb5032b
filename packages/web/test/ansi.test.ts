import { describe, expect, it } from 'vitest';

import { parseAnsi, stripAnsi, styleOf } from '../src/lib/ansi.ts';

describe('parseAnsi', () => {
  it('keeps plain text as one unstyled span', () => {
    expect(parseAnsi('hello <b>world</b>')).toEqual([{ text: 'hello <b>world</b>', style: {} }]);
  });

  it('applies SGR colours, bold and reset', () => {
    const spans = parseAnsi('\x1b[1;31merror\x1b[0m plain \x1b[92mok\x1b[39m');
    expect(spans).toEqual([
      { text: 'error', style: { bold: true, fg: 1 } },
      { text: ' plain ', style: {} },
      { text: 'ok', style: { fg: 10 } },
    ]);
  });

  it('reads 256-colour and 24-bit colours, clamped', () => {
    expect(parseAnsi('\x1b[38;5;208mA\x1b[48;2;1;2;999mB')).toEqual([
      { text: 'A', style: { fg: 208 } },
      { text: 'B', style: { fg: 208, bg: 'rgb(1, 2, 255)' } },
    ]);
  });

  it('drops OSC-8 hyperlinks, titles, cursor moves and other control characters, keeping the text', () => {
    const line =
      '\x1b]8;;https://evil.example/\x07click\x1b]8;;\x07 \x1b]0;title\x1b\\\x1b[2J\x1b[10;5Hx\x07\x00y\tz\r';
    expect(stripAnsi(line)).toBe('click x' + 'y\tz');
    expect(
      parseAnsi(line)
        .map((s) => s.text)
        .join(''),
    ).toBe('click xy\tz');
  });

  it('swallows a sequence cut off at the end of a partial line', () => {
    expect(parseAnsi('half a line\x1b[3')).toEqual([{ text: 'half a line', style: {} }]);
    expect(parseAnsi('osc \x1b]8;;http://x')).toEqual([{ text: 'osc ', style: {} }]);
    expect(parseAnsi('\x1b')).toEqual([]);
  });

  it('starts every line plain', () => {
    parseAnsi('\x1b[31mred without reset');
    expect(parseAnsi('next')).toEqual([{ text: 'next', style: {} }]);
  });
});

describe('styleOf', () => {
  it('maps basic colours to fixed classes and others to CSS colours', () => {
    expect(styleOf({ fg: 1, bold: true }).className).toBe('text-red-500 font-bold');
    expect(styleOf({ fg: 208 }).css).toEqual({ color: 'rgb(255, 135, 0)' });
    expect(styleOf({ bg: 'rgb(1, 2, 3)' }).css).toEqual({ backgroundColor: 'rgb(1, 2, 3)' });
  });
});
