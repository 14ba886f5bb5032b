/** Reported at registration, shown in the dashboard's runner list. */
export const SOLDER_VERSION = '0.1.0';
