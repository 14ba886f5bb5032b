/**
 * `--allowed-images`: which images this solder's container tasks may use.
 *
 * Image names are compared in full, as the docker CLI reads them: a name whose first component
 * is not a registry (no `.` or `:` in it, and not `localhost`) is on `docker.io`, and a name
 * without a slash there is in `library/`. So `alpine:3.20` is `docker.io/library/alpine:3.20` and
 * `acme/tool` is `docker.io/acme/tool`. Patterns are completed the same way (unless their first
 * component holds a glob character), so `alpine` allows `docker.io/library/alpine`.
 *
 * In a pattern `*` and `?` match within one path component, `**` across them. A pattern with no
 * tag or digest allows every tag and digest of the names it matches (`docker.io/library/*`
 * allows `alpine:3.20`); one with a tag or digest must match the image's tag or digest too.
 */
export class ImagePolicy {
  private readonly rules: Array<{ pattern: string; name: RegExp; withTag: boolean }>;

  constructor(readonly patterns: readonly string[]) {
    this.rules = patterns.map((pattern) => {
      const full = /[*?[]/.test(pattern.split('/')[0] ?? '') ? pattern : normaliseImage(pattern);
      return { pattern, name: globToRegExp(full), withTag: hasTagOrDigest(full) };
    });
  }

  /** Null when the image may run; otherwise why not, in words for the task's log and error. */
  refusal(image: string): string | null {
    const full = normaliseImage(image);
    const name = withoutTagOrDigest(full);
    if (this.rules.some((rule) => rule.name.test(rule.withTag ? full : name))) return null;
    return `image ${image} (${full}) is not allowed on this solder; it allows ${this.patterns.join(', ')} (--allowed-images)`;
  }
}

/** `alpine` → `docker.io/library/alpine`, `acme/tool:1` → `docker.io/acme/tool:1`; others as given. */
export function normaliseImage(image: string): string {
  const slash = image.indexOf('/');
  const first = slash < 0 ? '' : image.slice(0, slash);
  const hasRegistry = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return image;
  return slash < 0 ? `docker.io/library/${image}` : `docker.io/${image}`;
}

function hasTagOrDigest(reference: string): boolean {
  const last = reference.slice(reference.lastIndexOf('/') + 1);
  return last.includes(':') || last.includes('@');
}

function withoutTagOrDigest(reference: string): string {
  const at = reference.indexOf('@');
  const name = at < 0 ? reference : reference.slice(0, at);
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return colon > slash ? name.slice(0, colon) : name;
}

function globToRegExp(glob: string): RegExp {
  let source = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      source += '.*';
      i++;
    } else if (c === '*') source += '[^/]*';
    else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
