import { describe, expect, it } from 'vitest';

import { hasTerminalControls, type TerminalToken, tokenizeTerminalEscapes } from '../src/index.ts';

const ESC = '\u001b';
const BEL = '\u0007';
const ST = `${ESC}\\`;

const rawOf = (token: TerminalToken) => (token.kind === 'text' ? token.text : token.raw);

describe('tokenizeTerminalEscapes', () => {
  it('gives plain text as one token, and nothing for an empty string', () => {
    expect(tokenizeTerminalEscapes('café 😀 <b>')).toEqual([{ kind: 'text', text: 'café 😀 <b>' }]);
    expect(tokenizeTerminalEscapes('')).toEqual([]);
  });

  it('reads a CSI into its parameters, intermediates and final byte', () => {
    expect(tokenizeTerminalEscapes(`a${ESC}[1;31mred${ESC}[?1049h${ESC}[2 q`)).toEqual([
      { kind: 'text', text: 'a' },
      { kind: 'csi', raw: `${ESC}[1;31m`, params: '1;31', intermediates: '', final: 'm' },
      { kind: 'text', text: 'red' },
      { kind: 'csi', raw: `${ESC}[?1049h`, params: '?1049', intermediates: '', final: 'h' },
      { kind: 'csi', raw: `${ESC}[2 q`, params: '2', intermediates: ' ', final: 'q' },
    ]);
  });

  it('ends a CSI cut off before its final byte where its parameter and intermediate bytes end', () => {
    expect(tokenizeTerminalEscapes(`half${ESC}[3`)).toEqual([
      { kind: 'text', text: 'half' },
      { kind: 'csi', raw: `${ESC}[3`, params: '3', intermediates: '', final: '' },
    ]);
    expect(tokenizeTerminalEscapes(`${ESC}[12;é`)).toEqual([
      { kind: 'csi', raw: `${ESC}[12;`, params: '12;', intermediates: '', final: '' },
      { kind: 'text', text: 'é' },
    ]);
  });

  it('reads an OSC 8 hyperlink as two OSC tokens around the link text', () => {
    expect(tokenizeTerminalEscapes(`${ESC}]8;id=1;javascript:alert(1)${BEL}click${ESC}]8;;${ST}`)).toEqual([
      {
        kind: 'osc',
        raw: `${ESC}]8;id=1;javascript:alert(1)${BEL}`,
        command: '8',
        data: 'id=1;javascript:alert(1)',
        terminated: true,
      },
      { kind: 'text', text: 'click' },
      { kind: 'osc', raw: `${ESC}]8;;${ST}`, command: '8', data: ';', terminated: true },
    ]);
  });

  it.each([
    ['a title ended by BEL', `${ESC}]0;pwned${BEL}`, '0', 'pwned'],
    ['a clipboard write ended by ST', `${ESC}]52;c;ZXZpbA==${ST}`, '52', 'c;ZXZpbA=='],
    ['an OSC without data', `${ESC}]104${BEL}`, '104', ''],
  ])('reads an OSC: %s', (_name, input, command, data) => {
    expect(tokenizeTerminalEscapes(input)).toEqual([{ kind: 'osc', raw: input, command, data, terminated: true }]);
  });

  it('lets an unterminated OSC swallow the rest of the text, escape sequences included', () => {
    expect(tokenizeTerminalEscapes(`before${ESC}]0;never ${ESC}[31m ends`)).toEqual([
      { kind: 'text', text: 'before' },
      {
        kind: 'osc',
        raw: `${ESC}]0;never ${ESC}[31m ends`,
        command: '0',
        data: `never ${ESC}[31m ends`,
        terminated: false,
      },
    ]);
  });

  it('reads DCS, SOS, PM and APC as control strings up to ST or BEL', () => {
    expect(tokenizeTerminalEscapes(`${ESC}Pq#0;2${ST}sixel${ESC}_apc${BEL}${ESC}^pm${ST}${ESC}Xsos`)).toEqual([
      { kind: 'control-string', raw: `${ESC}Pq#0;2${ST}`, introducer: 'P', data: 'q#0;2', terminated: true },
      { kind: 'text', text: 'sixel' },
      { kind: 'control-string', raw: `${ESC}_apc${BEL}`, introducer: '_', data: 'apc', terminated: true },
      { kind: 'control-string', raw: `${ESC}^pm${ST}`, introducer: '^', data: 'pm', terminated: true },
      { kind: 'control-string', raw: `${ESC}Xsos`, introducer: 'X', data: 'sos', terminated: false },
    ]);
  });

  it('reads any other escape as ESC, intermediates and a final byte', () => {
    expect(tokenizeTerminalEscapes(`${ESC}creset${ESC}(Bcharset${ESC}`)).toEqual([
      { kind: 'escape', raw: `${ESC}c`, intermediates: '', final: 'c' },
      { kind: 'text', text: 'reset' },
      { kind: 'escape', raw: `${ESC}(B`, intermediates: '(', final: 'B' },
      { kind: 'text', text: 'charset' },
      { kind: 'escape', raw: ESC, intermediates: '', final: '' },
    ]);
  });

  it('gives each C0 control, DEL and C1 control a token of its own', () => {
    expect(tokenizeTerminalEscapes('a\tb\r\n\u0000\u007f\u0085c')).toEqual([
      { kind: 'text', text: 'a' },
      { kind: 'control', raw: '\t' },
      { kind: 'text', text: 'b' },
      { kind: 'control', raw: '\r' },
      { kind: 'control', raw: '\n' },
      { kind: 'control', raw: '\u0000' },
      { kind: 'control', raw: '\u007f' },
      { kind: 'control', raw: '\u0085' },
      { kind: 'text', text: 'c' },
    ]);
  });

  it('treats a C1 introducer (0x9B CSI, 0x9D OSC) as a control, and what follows it as text', () => {
    expect(tokenizeTerminalEscapes('\u009b2Jx\u009d0;t\u009c')).toEqual([
      { kind: 'control', raw: '\u009b' },
      { kind: 'text', text: '2Jx' },
      { kind: 'control', raw: '\u009d' },
      { kind: 'text', text: '0;t' },
      { kind: 'control', raw: '\u009c' },
    ]);
  });

  it('gives the text back when the tokens are joined', () => {
    const input = `x${ESC}[31;?m${ESC}]8;;u${ESC}${ESC}\\y${ESC}[\n\u009b${ESC}P${BEL}${ESC} ${ESC}[1`;
    expect(tokenizeTerminalEscapes(input).map(rawOf).join('')).toBe(input);
  });
});

describe('hasTerminalControls', () => {
  it('is false for plain text and true for any control character or ESC', () => {
    expect(hasTerminalControls('café 😀 ~')).toBe(false);
    for (const c of ['\t', '\n', ESC, '\u007f', '\u009b', '\u0000']) expect(hasTerminalControls(`a${c}b`)).toBe(true);
  });
});
