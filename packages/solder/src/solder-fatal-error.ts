/**
 * A condition the solder cannot go on from, with the reason (registration refused, a runner token
 * the mothership no longer accepts and no registration token to replace it). A restart with the
 * same settings would meet it again, so `borg solder` exits 78 (EX_CONFIG) on it.
 */
export class SolderFatalError extends Error {
  override name = 'SolderFatalError';
}
