import { describe, expect, it } from 'vitest';

import { CreateJobRequest, isSafeRelativePath, RelativePath } from '../src/index.ts';

/**
 * B5: paths that would leave a task's work directory, in every disguise the reliability plan
 * lists (and a few more of the same families). Each must be refused.
 */
const ESCAPES: Array<[string, string]> = [
  ['a parent segment', '../x'],
  ['a parent segment after a name (prefix stripping misses it)', 'a/../../x'],
  ['a parent segment at the end', 'a/..'],
  ['only a parent segment', '..'],
  ['an absolute POSIX path', '/etc/passwd'],
  ['a double-slash absolute path', '//etc/passwd'],
  ['a Windows drive path', 'C:\\x'],
  ['a Windows drive path with a forward slash', 'c:/x'],
  ['a drive-relative Windows path', 'C:x'],
  ['a Windows parent segment', '..\\x'],
  ['a UNC path', '\\\\server\\share\\x'],
  ['dots hidden behind a current-directory segment', 'a/./../..'],
  ['a current-directory segment then a parent one', './..'],
  ['percent-encoded dots', '%2e%2e/x'],
  ['percent-encoded dots in upper case', '%2E%2E/x'],
  ['double percent-encoded dots', '%252e%252e/'],
  ['a percent-encoded slash and dots', 'a/%2F..%2F..'],
  ['a NUL byte', 'x\u0000.txt'],
  ['another control character', 'x\u0007.txt'],
  ['a newline', 'x\n.txt'],
  ['DEL', 'x\u007f.txt'],
  ['a C1 control: the one-byte CSI U+009B', 'x\u009b2J.txt'],
  ['the first C1 control, U+0080', '\u0080x'],
  ['the last C1 control, U+009F', 'x\u009f'],
  ['a percent-encoded C1 control', 'x%C2%9B.txt'],
  ['the empty string', ''],
  ['the current directory', '.'],
  ['only slashes and dots', './/./'],
  ['a 4096-character path', 'a/'.repeat(2048)],
  ['a 300-character segment', `dir/${'n'.repeat(300)}`],
  ['the two-dot leader U+2025 (folds to "..")', '\u2025/'],
  ['the two-dot leader before a name', '\u2025/etc/passwd'],
  ['full-width dots and solidus (fold to "../")', '\uff0e\uff0e\uff0f'],
  ['full-width dots then a name', '\uff0e\uff0e\uff0fx'],
  ['a right-to-left override that disguises a name', 'invoice\u202Efdp.exe'],
  ['a first-strong isolate', 'a\u2068b'],
];

/** Names people really use: spaces, dots inside names, unicode letters, nested directories. */
const LEGITIMATE: Array<[string, string]> = [
  ['a file in a directory', 'a/b.txt'],
  ['two dots inside a name', 'data/x..y'],
  ['a leading current-directory segment', './a'],
  ['a name starting with two dots', '..hidden'],
  ['a name ending with two dots', 'name..'],
  ['a dot file', '.env'],
  ['a name with spaces', 'my input file.csv'],
  ['accented letters', 'données/été.csv'],
  ['the first character after the C1 controls (U+00A0, no-break space)', 'a\u00a0b.txt'],
  ['CJK letters', '日本語/ファイル.txt'],
  ['a deep path', 'a/b/c/d/e/f.bin'],
  ['a literal percent sign that is no escape', '100%/done.txt'],
  ['an encoded space', 'file%20name.txt'],
  ['a 255-character name', 'n'.repeat(255)],
  ['a doubled slash between names', 'a//b'],
];

describe('isSafeRelativePath', () => {
  it.each(ESCAPES)('refuses %s', (_what, path) => {
    expect(isSafeRelativePath(path)).toBe(false);
  });

  it.each(LEGITIMATE)('accepts %s', (_what, path) => {
    expect(isSafeRelativePath(path)).toBe(true);
  });

  it('is what the RelativePath schema and job files apply', () => {
    for (const [, path] of ESCAPES) {
      expect(RelativePath.safeParse(path).success, JSON.stringify(path)).toBe(false);
      const job = CreateJobRequest.safeParse({
        name: 'j',
        command: 'true',
        files: [{ file_id: '4a7c2f8e-8a55-4c47-9a3c-0f8a1d1b2c3d', path }],
      });
      expect(job.success, JSON.stringify(path)).toBe(false);
    }
    for (const [, path] of LEGITIMATE) {
      expect(RelativePath.safeParse(path).success, JSON.stringify(path)).toBe(true);
    }
  });
});
