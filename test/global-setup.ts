import { buildNode } from '../scripts/build-node.ts';
import { ENGINE, prepareTemplate } from './test-database.ts';

export default async function setup(): Promise<void> {
  process.stdout.write(`borg tests: database engine ${ENGINE}\n`);
  // Tests that start `borg` as a process run the compiled build, as users do: it must be current.
  await buildNode({ log: (line) => process.stdout.write(`borg tests: ${line}\n`) });
  await prepareTemplate();
}
