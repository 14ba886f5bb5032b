/**
 * Where an S3-compatible bucket is: BORG_STORAGE_URL, `s3://bucket/prefix?endpoint=…&region=…&force_path_style=true`.
 * Credentials never go in the URL (it is printed and logged); they come from the AWS SDK's usual
 * sources: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, a profile, or a role.
 */
export interface S3Location {
  bucket: string;
  /** Empty, or ends with `/`: every object Borg writes is under it. */
  prefix: string;
  /** Another S3-compatible service (MinIO, Ceph, R2); unset means AWS S3. */
  endpoint?: string;
  region: string;
  /** `http://endpoint/bucket/key` instead of `http://bucket.endpoint/key` (MinIO, Ceph, most others). */
  forcePathStyle: boolean;
}

const OPTIONS = new Set(['endpoint', 'region', 'force_path_style']);

/** Parses BORG_STORAGE_URL; throws a message that names the part that is wrong (and never repeats a secret). */
export function parseStorageUrl(text: string): S3Location {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('is not a URL; write s3://bucket/prefix?region=…');
  }
  if (url.protocol !== 's3:') throw new Error(`must start with s3:// (got ${url.protocol}//)`);
  if (url.username || url.password) {
    throw new Error('must not hold credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead');
  }
  const bucket = url.hostname;
  // S3's bucket naming rules, loosely: what other stores accept is a subset of this.
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new Error(`names no valid bucket (3-63 lower-case letters, digits, dots and hyphens): "${bucket}"`);
  }
  if (url.port) throw new Error('has a port after the bucket name; give the server as ?endpoint=http://host:port');
  const path = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
  if (path.split('/').some((part) => part === '.' || part === '..')) throw new Error('has . or .. in its prefix');
  for (const key of url.searchParams.keys()) {
    if (!OPTIONS.has(key)) throw new Error(`has an unknown option "${key}" (known: ${[...OPTIONS].join(', ')})`);
  }
  const endpoint = url.searchParams.get('endpoint') ?? undefined;
  if (endpoint !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(endpoint);
    } catch {
      throw new Error('has an endpoint that is not a URL; write endpoint=https://host[:port]');
    }
    if (!/^https?:$/.test(parsed.protocol)) throw new Error('has an endpoint that is not http(s)://');
    if (parsed.username || parsed.password) throw new Error('has credentials in its endpoint; use AWS_* variables');
  }
  const pathStyle = url.searchParams.get('force_path_style') ?? 'false';
  if (!['true', 'false', '1', '0'].includes(pathStyle)) throw new Error('force_path_style is true or false');
  return {
    bucket,
    prefix: path ? `${path}/` : '',
    endpoint,
    region: url.searchParams.get('region') ?? process.env.AWS_REGION ?? 'us-east-1',
    forcePathStyle: pathStyle === 'true' || pathStyle === '1',
  };
}

/** The location for people to read (logs, errors, the startup banner): bucket, prefix and endpoint only. */
export function describeLocation(location: S3Location): string {
  const where = `s3://${location.bucket}/${location.prefix}`;
  return location.endpoint ? `${where} at ${new URL(location.endpoint).origin}` : `${where} (AWS, ${location.region})`;
}
