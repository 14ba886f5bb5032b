import { ENGINE, prepareTemplate } from './test-database.ts';

export default async function setup(): Promise<void> {
  process.stdout.write(`borg tests: database engine ${ENGINE}\n`);
  await prepareTemplate();
}
