/**
 * `borg-solder`: the solder alone, as the install script puts it on a worker (one bundled file,
 * see scripts/build-node.ts). It takes the flags of `borg solder`.
 */
// First: its module body runs before the others build anything (see young-generation.ts).
import './young-generation.ts';

import { BORG_VERSION } from '@borg/protocol';

import { solderCommand } from './commands/solder.ts';
import { runProgram } from './run-program.ts';

const program = solderCommand()
  .name('borg-solder')
  .version(BORG_VERSION, '-V, --version', 'print the version')
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`borg-solder: ${text.replace(/^error: /, '')}`) });
await runProgram(program, process.argv);
