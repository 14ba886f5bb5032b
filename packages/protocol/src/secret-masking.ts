/**
 * Hides secret values in text a task printed, before it is stored or shown anywhere.
 *
 * What is searched for, for each value of at least MIN_MASKED_SECRET_LENGTH characters: the value
 * itself and its encoded forms (`secretForms`):
 * - JSON-string escaping (`JSON.stringify(value)` without its quotes);
 * - URL encoding (`encodeURIComponent`, the same with `+` for a space, and the form encoding of
 *   `URLSearchParams`);
 * - hex of its UTF-8 bytes, lower and upper case;
 * - base64 of its UTF-8 bytes, standard and URL-safe alphabets, at the three alignments it can have
 *   inside longer encoded data (preceded by 0, 1 or 2 bytes, characters that also carry a
 *   neighbour's bits left out), and at the end of the data with its last character, with and
 *   without `=` padding.
 * Every character that belongs to an occurrence of any of these is hidden: each maximal run of
 * overlapping occurrences becomes one `***`, so a value that overlaps another or holds another is
 * hidden whole, whichever is longer. Occurrences that merely touch stay two `***`.
 *
 * Line breaks do not protect a value. Text is taken as lines, and a value is found across line
 * ends as if the lines were joined with nothing between them (a trailing "\r" of a line and empty
 * lines are skipped too); a value holding line breaks (a PEM key) is searched for without them.
 * So a value printed in two halves on two lines, base64 wrapped at 76 columns or a multi-line key
 * printed as it is are all found; the part of each line that the occurrence covers becomes `***`,
 * and the number of lines never changes.
 *
 * Values shorter than MIN_MASKED_SECRET_LENGTH characters (line breaks not counted) are not
 * searched for: hiding every "a" or "42" would destroy ordinary text. Other encodings, and any
 * transformation a task applies on purpose, are not recognised: masking is a safety net against
 * accidents, not a barrier against a task that wants to reveal its secrets.
 *
 * The search is one Aho-Corasick automaton over every form of every value, built once per set of
 * values: masking costs one pass over the text whatever the number of values.
 */

/** Values shorter than this (in characters, line breaks not counted) are left alone. */
export const MIN_MASKED_SECRET_LENGTH = 4;

/** What an occurrence is replaced with. */
export const SECRET_MASK = '***';

/**
 * At most this many empty lines are held back in a row while a value could still be completed
 * (they add nothing to the search, so without a bound a stream of them would be held forever).
 */
export const MAX_HELD_EMPTY_LINES = 64;

/** Hides every occurrence of the values (and their encoded forms) in `text`. Builds the search each call. */
export function maskSecrets(text: string, secrets: Iterable<string>): string {
  return createSecretMasker(secrets).mask(text);
}

/** Builds the search for these values once; mask with it as often as needed. */
export function createSecretMasker(secrets: Iterable<string>): SecretMasker {
  return new SecretMasker(secrets);
}

/** The strings searched for one value, line breaks removed; none when the value is too short. */
export function secretForms(value: string): string[] {
  const plain = withoutLineBreaks(value);
  if ([...plain].length < MIN_MASKED_SECRET_LENGTH) return [];
  const forms = new Set([plain, JSON.stringify(value).slice(1, -1)]);
  try {
    const uri = encodeURIComponent(value);
    forms.add(uri);
    forms.add(uri.replaceAll('%20', '+'));
    forms.add(new URLSearchParams({ v: value }).toString().slice(2));
  } catch {
    // A lone surrogate has no URL encoding (encodeURIComponent throws): nothing to look for.
  }
  const bytes = new TextEncoder().encode(value);
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  forms.add(hex);
  forms.add(hex.toUpperCase());
  for (const form of base64Forms(bytes)) {
    forms.add(form);
    forms.add(form.replaceAll('+', '-').replaceAll('/', '_'));
  }
  return [...forms].map(withoutLineBreaks).filter((form) => form.length > 0);
}

/**
 * The base64 of `bytes` when preceded by 0, 1 or 2 other bytes. Character j of an encoding holds
 * bits 6j to 6j+5, byte i bits 8i to 8i+7: behind k bytes, the first character that holds only
 * the value's bits is ceil(8k / 6), the last one floor(8(k + n) / 6) - 1; the one after that holds
 * the value's last bits and either the next byte's (inside longer data) or zeros (at its end).
 */
function base64Forms(bytes: Uint8Array): string[] {
  const forms: string[] = [];
  for (const k of [0, 1, 2]) {
    const encoded = base64Of(new Uint8Array([...new Uint8Array(k), ...bytes]));
    const first = Math.ceil((8 * k) / 6);
    const end = Math.floor((8 * (k + bytes.length)) / 6);
    forms.push(encoded.slice(first, end), encoded.slice(first), encoded.slice(first).replace(/=+$/, ''));
  }
  return forms.filter((form) => form.length > 0);
}

/** Standard base64 with padding; btoa, because this module also runs in browsers (no Buffer). */
function base64Of(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function withoutLineBreaks(text: string): string {
  return text.replace(/\r?\n/g, '');
}

/** How many of a line's characters are searched: all but a trailing "\r" (CRLF output). */
function searchedLength(line: string): number {
  return line.endsWith('\r') ? line.length - 1 : line.length;
}

/** At most this many entries (4 bytes each) in the table of moves of the shallowest states. */
const TABLE_ENTRIES = 1 << 18;

/** A trie of the patterns as built, before its states are numbered breadth first. */
interface Trie {
  edge: number[];
  firstChild: number[];
  nextSibling: number[];
  depth: number[];
  /** The length of the pattern that ends at a state, or 0. */
  ends: number[];
}

function buildTrie(patterns: Iterable<string>, classOf: Uint16Array): { trie: Trie; classes: number } {
  const trie: Trie = { edge: [0], firstChild: [-1], nextSibling: [-1], depth: [0], ends: [0] };
  let classes = 1;
  for (const pattern of patterns) {
    let state = 0;
    for (let i = 0; i < pattern.length; i++) {
      const code = pattern.charCodeAt(i);
      if (classOf[code] === 0) classOf[code] = classes++;
      let child = trie.firstChild[state]!;
      while (child !== -1 && trie.edge[child] !== code) child = trie.nextSibling[child]!;
      if (child === -1) {
        child = trie.edge.length;
        trie.edge.push(code);
        trie.firstChild.push(-1);
        trie.nextSibling.push(trie.firstChild[state]!);
        trie.firstChild[state] = child;
        trie.depth.push(i + 1);
        trie.ends.push(0);
      }
      state = child;
    }
    trie.ends[state] = pattern.length;
  }
  return { trie, classes };
}

/**
 * An Aho-Corasick automaton over UTF-16 code units. Code units are mapped to classes first, 0
 * for every unit no pattern holds (it sends any state back to the root, state 0). States are
 * numbered breadth first, and the shallowest ones, where ordinary text keeps the search, have a
 * complete row of moves in one table; deeper ones list their children (one, mostly) and fall
 * back on failure.
 */
class PatternAutomaton {
  readonly classOf = new Uint16Array(0x10000);
  readonly classes: number;
  /** States below this number have a row in `table`, at state * classes. */
  readonly tableStates: number;
  readonly table: Int32Array;
  readonly edge: Uint16Array;
  readonly firstChild: Int32Array;
  readonly nextSibling: Int32Array;
  readonly fail: Int32Array;
  /**
   * How far back an occurrence still in progress can start: the length of the longest end of the
   * text read so far that some pattern continues (0 when none).
   */
  readonly reach: Int32Array;
  /** The longest pattern that ends where this state is reached (0: none). */
  readonly longest: Int32Array;

  constructor(patterns: Iterable<string>) {
    const { trie, classes } = buildTrie(patterns, this.classOf);
    const count = trie.edge.length;
    const order = [0];
    for (let head = 0; head < order.length; head++) {
      for (let child = trie.firstChild[order[head]!]!; child !== -1; child = trie.nextSibling[child]!)
        order.push(child);
    }
    const renumbered = new Int32Array(count);
    order.forEach((old, state) => (renumbered[old] = state));
    const numberOf = (old: number) => (old === -1 ? -1 : renumbered[old]!);
    this.classes = classes;
    this.edge = Uint16Array.from(order, (old) => trie.edge[old]!);
    this.firstChild = Int32Array.from(order, (old) => numberOf(trie.firstChild[old]!));
    this.nextSibling = Int32Array.from(order, (old) => numberOf(trie.nextSibling[old]!));
    this.reach = new Int32Array(count);
    this.longest = Int32Array.from(order, (old) => trie.ends[old]!);
    this.fail = new Int32Array(count);
    this.tableStates = Math.max(1, Math.min(count, Math.floor(TABLE_ENTRIES / classes)));
    this.table = new Int32Array(this.tableStates * classes);
    // In breadth-first order a state's fallback, being shallower, is complete (row included)
    // before the state needs it.
    for (let state = 0; state < count; state++) {
      const old = order[state]!;
      this.reach[state] = trie.firstChild[old] !== -1 ? trie.depth[old]! : this.reach[this.fail[state]!]!;
      for (let child = this.firstChild[state]!; child !== -1; child = this.nextSibling[child]!) {
        const fallback = state === 0 ? 0 : this.next(this.fail[state]!, this.edge[child]!);
        this.fail[child] = fallback;
        this.longest[child] = Math.max(this.longest[child]!, this.longest[fallback]!);
      }
      if (state < this.tableStates) {
        const row = state * classes;
        const fallbackRow = this.fail[state]! * classes;
        if (state !== 0) this.table.copyWithin(row, fallbackRow, fallbackRow + classes);
        for (let child = this.firstChild[state]!; child !== -1; child = this.nextSibling[child]!) {
          this.table[row + this.classOf[this.edge[child]!]!] = child;
        }
      }
    }
  }

  /** The state after reading `code` in `state`. */
  next(state: number, code: number): number {
    const unit = this.classOf[code]!;
    if (unit === 0) return 0;
    for (let s = state; ; s = this.fail[s]!) {
      if (s < this.tableStates) return this.table[s * this.classes + unit]!;
      for (let child = this.firstChild[s]!; child !== -1; child = this.nextSibling[child]!) {
        if (this.edge[child] === code) return child;
      }
    }
  }
}

/** The search for one set of values: masks whole texts, and makes a SecretLineMasker per stream. */
export class SecretMasker {
  /** Null when no value is long enough to be searched for. */
  readonly automaton: PatternAutomaton | null;

  constructor(secrets: Iterable<string>) {
    const patterns = new Set<string>();
    for (const secret of secrets) for (const form of secretForms(secret)) patterns.add(form);
    this.automaton = patterns.size > 0 ? new PatternAutomaton(patterns) : null;
  }

  /** True when at least one value is searched for; when false, `mask` returns its text as it is. */
  get active(): boolean {
    return this.automaton !== null;
  }

  /** `text` with every occurrence hidden, its lines ("\n"-separated) searched as one stream. */
  mask(text: string): string {
    if (!this.automaton) return text;
    const lines = new SecretLineMasker(this);
    const out: string[] = [];
    for (const line of text.split('\n')) for (const masked of lines.push(line)) out.push(masked);
    for (const masked of lines.flush()) out.push(masked);
    return out.join('\n');
  }

  /** A streaming masker for one stream of lines (a process's stdout, say). */
  lineMasker(): SecretLineMasker {
    return new SecretLineMasker(this);
  }
}

interface HeldLine {
  text: string;
  /** Where the line's searched characters start in the stream's joined text. */
  start: number;
  end: number;
}

/**
 * Masks one stream given line by line (lines without their "\n"), finding values that straddle
 * line ends. `push` takes the next line and returns the lines that are now final, masked, in
 * order; `flush` ends the stream and returns the rest.
 *
 * The guarantee: the lines returned, all pushes and the flush together, are exactly the lines
 * pushed, in order, each with every occurrence found in the stream's joined text (the lines
 * concatenated, a trailing "\r" of each skipped) replaced as `SecretMasker` describes — as long
 * as no occurrence spans more than MAX_HELD_EMPTY_LINES empty lines.
 *
 * A line is held back only while an occurrence could still start in it: while the text from some
 * point in it to the end of the stream so far is the beginning of a searched form that more text
 * could complete. The moment that stops being true (the next line does not go on with the form,
 * or `flush`), the line is returned; a line whose end cannot begin a form is returned by its own
 * `push`. So the lines held are at most those that touch the last L - 1 characters of the joined
 * text, L the longest form's length, and the empty lines between them.
 */
export class SecretLineMasker {
  private readonly automaton: PatternAutomaton | null;
  private state = 0;
  /** Characters of the joined text searched so far. */
  private length = 0;
  private held: HeldLine[] = [];
  private heldEmpty = 0;
  /** Occurrences that still touch a held line, sorted, overlapping ones merged: [start, end) pairs. */
  private found: number[] = [];

  constructor(masker: SecretMasker) {
    this.automaton = masker.automaton;
  }

  /** Adds the stream's next line; returns the lines now final, masked, in order. */
  push(line: string): string[] {
    const automaton = this.automaton;
    if (!automaton) return [line];
    const start = this.length;
    const end = start + searchedLength(line);
    const { classOf, classes, tableStates, table, edge, firstChild, nextSibling, fail, longest } = automaton;
    let state = this.state;
    // The automaton's step, inlined: this loop is the whole cost of masking.
    for (let i = 0, n = end - start; i < n; i++) {
      const code = line.charCodeAt(i);
      const unit = classOf[code]!;
      if (unit === 0) {
        state = 0;
        continue;
      }
      if (state < tableStates) {
        state = table[state * classes + unit]!;
      } else {
        for (let s = state; ; s = fail[s]!) {
          if (s < tableStates) {
            state = table[s * classes + unit]!;
            break;
          }
          let child = firstChild[s]!;
          while (child !== -1 && edge[child] !== code) child = nextSibling[child]!;
          if (child !== -1) {
            state = child;
            break;
          }
        }
      }
      const matched = longest[state]!;
      if (matched > 0) this.addFound(start + i + 1 - matched, start + i + 1);
    }
    this.state = state;
    this.length = end;
    this.held.push({ text: line, start, end });
    if (end === start && ++this.heldEmpty > MAX_HELD_EMPTY_LINES) return this.flush();
    // No occurrence still to come can start before this point.
    return this.release(end - automaton.reach[state]!);
  }

  /** Ends the stream: returns every line still held, masked, and starts afresh. */
  flush(): string[] {
    const released = this.release(Infinity);
    this.state = 0;
    return released;
  }

  /** Records the occurrence [start, end), merging it with those it overlaps. */
  private addFound(start: number, end: number): void {
    const found = this.found;
    let from = start;
    // Occurrences are found in order of their ends, so only the last ones can overlap this one.
    while (found.length > 0 && found[found.length - 1]! > from) {
      from = Math.min(from, found[found.length - 2]!);
      found.length -= 2;
    }
    found.push(from, end);
  }

  /** Returns, masked, the held lines that end at or before `boundary`. */
  private release(boundary: number): string[] {
    const released: string[] = [];
    let lines = 0;
    let head = 0; // the first occurrence that may still touch the line being released
    while (lines < this.held.length && this.held[lines]!.end <= boundary) {
      const line = this.held[lines++]!;
      if (line.end === line.start) this.heldEmpty--;
      while (head < this.found.length && this.found[head + 1]! <= line.start) head += 2;
      released.push(this.masked(line, head));
    }
    if (lines > 0) this.held = this.held.slice(lines);
    // Forget the occurrences that end before the first line still held.
    const keepFrom = this.held[0]?.start ?? this.length;
    while (head < this.found.length && this.found[head + 1]! <= keepFrom) head += 2;
    if (head > 0) this.found = this.found.slice(head);
    return released;
  }

  /** The line with the occurrences from `found[head]` on replaced where they cover it. */
  private masked(line: HeldLine, head: number): string {
    const found = this.found;
    let text = '';
    let cursor = 0;
    for (let i = head; i < found.length && found[i]! < line.end; i += 2) {
      const from = Math.max(found[i]!, line.start) - line.start;
      const to = Math.min(found[i + 1]!, line.end) - line.start;
      if (to <= from) continue;
      text += line.text.slice(cursor, from) + SECRET_MASK;
      cursor = to;
    }
    return cursor === 0 ? line.text : text + line.text.slice(cursor);
  }
}
