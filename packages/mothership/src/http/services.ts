import type { Authenticator } from '../auth/authenticator.ts';
import type { MothershipConfig } from '../config.ts';
import type { Database } from '../db/database.ts';
import type { DatabaseHealth } from '../db/database-health.ts';
import type { Migration } from '../db/migrate.ts';
import type { EventBus } from '../events/event-bus.ts';
import type { FileService } from '../files/file-service.ts';
import type { ArtifactService } from '../jobs/artifact-service.ts';
import type { Dispatcher } from '../jobs/dispatcher.ts';
import type { JobActions } from '../jobs/job-actions.ts';
import type { Queue } from '../jobs/queue.ts';
import type { RunnerSessions } from '../jobs/runner-sessions.ts';
import type { Metrics } from '../metrics/metrics.ts';

/** Everything the HTTP layer calls. Routes take these; they never touch SQL themselves. */
export interface Services {
  config: MothershipConfig;
  db: Database;
  health: DatabaseHealth;
  migrations: Migration[];
  bus: EventBus;
  authenticator: Authenticator;
  jobs: JobActions;
  queue: Queue;
  dispatcher: Dispatcher;
  sessions: RunnerSessions;
  files: FileService;
  artifacts: ArtifactService;
  metrics: Metrics;
}

export interface RouteOptions {
  services: Services;
}
