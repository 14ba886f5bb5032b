/** Borg's release: the CLI's `--version`, what a solder reports at registration. */
export const BORG_VERSION = '0.1.0';

/**
 * The runner protocol's version: what a solder sends at registration, and what a mothership
 * speaks. A change a solder of the previous version cannot follow raises it; the mothership
 * then flags runners still on an older one (runner pages, /metrics) instead of failing them.
 */
export const PROTOCOL_VERSION = 1;

/** The runner protocol versions this code serves; a runner on another one is flagged. */
export const SUPPORTED_PROTOCOL_VERSIONS: readonly number[] = [1];
