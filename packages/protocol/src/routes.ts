import { adminRoutes } from './routes/admin-routes.ts';
import { arrayControlRoutes } from './routes/array-control-routes.ts';
import { fileRoutes } from './routes/file-routes.ts';
import { idRoutes } from './routes/id-routes.ts';
import { installRoutes } from './routes/install-routes.ts';
import { jobRoutes } from './routes/job-routes.ts';
import { logSearchRoutes } from './routes/log-search-routes.ts';
import { pipelineRoutes } from './routes/pipeline-routes.ts';
import { runnerRoutes } from './routes/runner-routes.ts';
import { scheduleRoutes } from './routes/schedule-routes.ts';
import { webhookRoutes } from './routes/webhook-routes.ts';

/**
 * Every operation of the HTTP API, once (one file per area under routes/). The mothership
 * registers its routes from this table (binding a handler to each name), `BorgClient` gets one
 * method per entry under the same name, and the OpenAPI document at `/api/docs` is generated from
 * it. Adding an endpoint is one entry and one handler in the mothership.
 */
export const routes = {
  ...adminRoutes,
  ...jobRoutes,
  ...arrayControlRoutes,
  ...pipelineRoutes,
  ...runnerRoutes,
  ...scheduleRoutes,
  ...fileRoutes,
  ...installRoutes,
  ...idRoutes,
  ...webhookRoutes,
  ...logSearchRoutes,
} as const;

export type Routes = typeof routes;
export type OperationName = keyof Routes;
