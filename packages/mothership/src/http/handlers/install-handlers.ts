import { createReadStream } from 'node:fs';

import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

/** The install script and the solder bundle, for machines that are not runners yet. */
export function installHandlers({
  installer,
  config,
}: Services): Handlers<'installScript' | 'solderBundle' | 'solderBundleChecksum'> {
  return {
    installScript: async (request, reply) => {
      const script = await installer.script(config.publicUrl ?? `${request.protocol}://${request.host}`);
      return reply.header('content-type', 'text/x-shellscript; charset=utf-8').send(script);
    },
    solderBundle: async (_request, reply) => {
      const path = installer.bundlePath();
      return reply.header('content-type', 'text/javascript; charset=utf-8').send(createReadStream(path));
    },
    solderBundleChecksum: async (_request, reply) =>
      reply.header('content-type', 'text/plain; charset=utf-8').send(await installer.checksum()),
  };
}
