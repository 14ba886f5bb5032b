import { BORG_VERSION } from '@borg/protocol';

/** Reported at registration, shown in the dashboard's runner list. */
export const SOLDER_VERSION = BORG_VERSION;
