import type { Readiness } from '@borg/protocol';

import type { ArtifactService } from '../artifacts/artifact-service.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { TokenService } from '../auth/token-service.ts';
import type { MothershipConfig } from '../config.ts';
import type { DatabaseHealth } from '../db/database-health.ts';
import type { Dispatcher } from '../dispatch/dispatcher.ts';
import type { Queue } from '../dispatch/queue.ts';
import type { RunnerSessions } from '../dispatch/runner-sessions.ts';
import type { FileService } from '../files/file-service.ts';
import type { IdResolver } from '../ids/id-resolver.ts';
import type { SolderInstaller } from '../install/solder-installer.ts';
import type { ArrayActions } from '../jobs/array-actions.ts';
import type { JobActions } from '../jobs/job-actions.ts';
import type { TaskPlacementService } from '../jobs/task-placement.ts';
import type { WebSocketHub } from '../live/websocket-hub.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { PipelineActions } from '../pipelines/pipeline-actions.ts';
import type { Retention } from '../retention/retention.ts';
import type { ScheduleService } from '../schedules/schedule-service.ts';
import type { SecretService } from '../secrets/secret-service.ts';
import type { StatsService } from '../stats/stats-service.ts';
import type { WebhookService } from '../webhooks/webhook-service.ts';

/** Everything the HTTP layer calls. Handlers take these; they never touch a store or SQL. */
export interface Services {
  config: MothershipConfig;
  health: DatabaseHealth;
  readiness: () => Promise<Readiness>;
  authenticator: Authenticator;
  tokens: TokenService;
  audit: AuditLog;
  secrets: SecretService;
  jobs: JobActions;
  /** max_parallel and element actions on array jobs. */
  arrays: ArrayActions;
  retention: Retention;
  /** Pipelines and job graphs (dependencies). */
  pipelines: PipelineActions;
  /** Why a pending task waits (GET /tasks/:id/placement). */
  placement: TaskPlacementService;
  queue: Queue;
  dispatcher: Dispatcher;
  sessions: RunnerSessions;
  files: FileService;
  /** Id prefixes to ids (GET /resolve). */
  ids: IdResolver;
  artifacts: ArtifactService;
  stats: StatsService;
  live: WebSocketHub;
  metrics: Metrics;
  installer: SolderInstaller;
  /** Schedules: a job spec submitted on a cron. */
  schedules: ScheduleService;
  /** Webhooks and their deliveries (docs/webhooks.md). */
  webhooks: WebhookService;
}
