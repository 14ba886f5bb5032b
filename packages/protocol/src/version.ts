/** Borg's release: the CLI's `--version`, what a solder reports at registration. */
export const BORG_VERSION = '0.1.0';
