/**
 * The one rule for paths that name a place inside a task's work directory (job input files,
 * artifacts). The mothership applies it when a job is created and the solder again before it
 * writes, so a bug on one side is not enough to escape the workspace.
 *
 * The check runs on every form a path could take on its way to the file system: as given, after
 * Unicode compatibility folding (U+2025 "‥" and full-width "．．／" fold to "../"), and after
 * percent-decoding (repeatedly, so "%252e%252e" is caught too).
 */
export function isSafeRelativePath(path: string): boolean {
  if (path.length === 0 || path.length > 1024) return false;
  for (const form of pathForms(path)) {
    if (!isPlainRelative(form)) return false;
  }
  return true;
}

function pathForms(path: string): string[] {
  const forms = new Set<string>([path, path.normalize('NFKC')]);
  let decoded = path;
  for (let i = 0; i < 3 && decoded.includes('%'); i++) {
    try {
      decoded = decodeURIComponent(decoded);
    } catch {
      break; // a stray '%' that is not an escape is just a character
    }
    forms.add(decoded);
    forms.add(decoded.normalize('NFKC'));
  }
  return [...forms];
}

// Control characters (C0, DEL and C1: NUL, and U+009B, a one-byte CSI on terminals that honour
// it), backslashes (a Windows separator) and bidi overrides have no business in a workspace path.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\\\u202a-\u202e\u2066-\u2069]/;

function isPlainRelative(path: string): boolean {
  if (FORBIDDEN_CHARACTERS.test(path)) return false;
  if (path.startsWith('/') || /^[A-Za-z]:/.test(path)) return false;
  const segments = path.split('/');
  for (const segment of segments) {
    if (segment === '..' || segment.length > 255) return false;
  }
  // "a/./b" and "a//b" are harmless, but a path made only of "." and "" names the directory itself.
  return segments.some((segment) => segment !== '' && segment !== '.');
}

/**
 * The rule for the name a raw upload gives its file: one segment of a safe relative path (no
 * "/", no "..", no control or bidi characters), at most 255 characters, so the name a download
 * offers can be written as it is.
 */
export function isSafeFileName(name: string): boolean {
  return name.length <= 255 && !name.includes('/') && isSafeRelativePath(name);
}
