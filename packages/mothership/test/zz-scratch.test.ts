import { it } from 'vitest';
import { useTestMothership } from '../../../test/test-mothership.ts';
const borg = useTestMothership();
it('prints', async () => {
  const app = borg().mothership.app;
  console.log(app.printRoutes({ commonPrefix: false }));
  const doc = app.swagger() as { paths: Record<string, Record<string, unknown>> };
  console.log(JSON.stringify(Object.fromEntries(Object.entries(doc.paths).map(([p, m]) => [p, Object.keys(m)]))));
  console.log(typeof (app as any).hasRoute);
});
