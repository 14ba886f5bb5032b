import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function pipelineHandlers({ pipelines }: Services): Handlers<'createPipeline' | 'getPipeline' | 'getJobGraph'> {
  return {
    createPipeline: async (request) => pipelines.createPipeline(request.body, principalOf(request)),
    getPipeline: async (request) => pipelines.getPipeline(request.params.id),
    getJobGraph: async (request) => pipelines.jobGraph(request.params.id),
  };
}
