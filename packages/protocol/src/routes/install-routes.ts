import { RAW_RESPONSE, route } from '../route-definition.ts';

/** What a new worker machine fetches to become a runner: public, since none of it is a secret. */
export const installRoutes = {
  installScript: route({
    method: 'GET',
    path: '/install.sh',
    access: 'public',
    tag: 'install',
    summary: 'The solder install script (POSIX sh), for `curl -fsSL URL/install.sh | sh -s -- --registration-token …`',
    responses: { 200: RAW_RESPONSE },
  }),
  solderBundle: route({
    method: 'GET',
    path: '/install/borg-solder.mjs',
    access: 'public',
    tag: 'install',
    summary: 'The solder as one JavaScript file (needs only Node.js 20.19+); 404 until `npm run build` made it',
    responses: { 200: RAW_RESPONSE },
  }),
  solderBundleChecksum: route({
    method: 'GET',
    path: '/install/borg-solder.mjs.sha256',
    access: 'public',
    tag: 'install',
    summary: "The solder bundle's SHA-256, as `sha256sum` prints it",
    responses: { 200: RAW_RESPONSE },
  }),
} as const;
