import { type AllowedLabels, ANY_LABEL_VALUE } from '@borg/protocol';

/**
 * Labels every solder reports about its machine. A token need not name them, since a runner that
 * lies about them only gets jobs meant for another OS; `gpu=false` claims nothing either. A
 * token that names one of them binds it like any other key.
 */
const FACTS_ALLOWED_UNNAMED: Readonly<Record<string, (value: string) => boolean>> = {
  os: () => true,
  arch: () => true,
  gpu: (value) => value === 'false',
};

/**
 * The labels (as `key=value`) a runner may not carry under a registration token's allowed
 * labels; empty when it may carry them all. Null allowed labels allow anything.
 */
export function labelsBeyond(labels: Record<string, string>, allowed: AllowedLabels | null): string[] {
  if (!allowed) return [];
  const beyond: string[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const permitted = Object.hasOwn(allowed, key)
      ? valueAllowed(allowed[key]!, value)
      : (FACTS_ALLOWED_UNNAMED[key]?.(value) ?? false);
    if (!permitted) beyond.push(`${key}=${value}`);
  }
  return beyond;
}

function valueAllowed(allowed: string | readonly string[], value: string): boolean {
  const values = typeof allowed === 'string' ? [allowed] : allowed;
  return values.includes(ANY_LABEL_VALUE) || values.includes(value);
}
