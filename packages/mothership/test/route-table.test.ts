import { BorgClient, fillPath, type OperationName, pathParamNames, type RouteDefinition, routes } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { servedRoutes } from './served-routes.ts';

/**
 * The protocol's route table is the one declaration of the API: the server registers it, the
 * OpenAPI document describes it and BorgClient calls it. These tests hold the three to it.
 */

const entries = Object.entries(routes) as [OperationName, RouteDefinition][];
const key = (definition: RouteDefinition) => `${definition.method} ${definition.path}`;

/** Routes the app serves that are not operations of the API. */
const NOT_OPERATIONS = ['GET *', 'GET /api/docs', 'GET /ws'];

describe('the route table', () => {
  const borg = useTestMothership();

  it('is what the app serves: every entry, and besides them only the WebSocket, the docs and the dashboard', () => {
    const served = servedRoutes(borg().mothership.app);
    expect(served.filter((route) => !NOT_OPERATIONS.includes(route))).toEqual(entries.map(([, d]) => key(d)).sort());
    expect(served).toEqual(expect.arrayContaining(NOT_OPERATIONS));
  });

  it('is what the OpenAPI document describes: each entry under its name, with its access and every status', () => {
    const doc = borg().mothership.app.swagger() as unknown as {
      paths: Record<string, Record<string, { operationId?: string; description?: string; responses: object }>>;
    };
    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, operation]) => ({ method, path, operation })),
    );
    expect(documented).toHaveLength(entries.length);
    for (const [name, definition] of entries) {
      const operation = doc.paths[definition.path.replace(/:(\w+)/g, '{$1}')]?.[definition.method.toLowerCase()];
      expect(operation?.operationId, key(definition)).toBe(name);
      expect(operation?.description, name).toBe(`Access: ${definition.access}.`);
      expect(Object.keys(operation!.responses), name).toEqual(
        expect.arrayContaining(Object.keys(definition.responses)),
      );
    }
  });

  it('is what BorgClient calls: one method per entry, sending its method to its path', async () => {
    const sent: string[] = [];
    const client = new BorgClient({
      baseUrl: 'http://borg.invalid/',
      fetch: async (url, init) => {
        sent.push(`${init?.method} ${new URL(String(url)).pathname}`);
        const body = { error: { code: 'INTERNAL', message: 'recorded, not served' } };
        return new Response(JSON.stringify(body), { status: 500 });
      },
    });
    const blob = new Blob(['probe']);
    /** The methods whose arguments are not the table's (multipart and raw bodies, raw answers). */
    const handWritten: Partial<Record<OperationName, (ids: string[]) => Promise<unknown>>> = {
      uploadFile: () => client.uploadFile(blob, 'probe.txt'),
      uploadArtifact: ([taskId]) => client.uploadArtifact(taskId ?? 'task', 'out/probe.txt', blob),
      putFile: () => client.putFile(blob, 'probe.txt'),
      putArtifact: ([taskId]) => client.putArtifact(taskId ?? 'task', 'out/probe.txt', blob),
      downloadFile: ([id]) => client.downloadFile(id!),
      metrics: () => client.metrics(),
      searchJobLogs: async ([id]) => {
        for await (const line of client.searchJobLogs(id!, { q: 'probe' })) void line;
      },
    };

    for (const [name, definition] of entries) {
      const ids = pathParamNames(definition.path).map((param, i) => `${param}-${i}/x`);
      const method = (client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>)[name];
      expect(method, `BorgClient.${name}`).toBeTypeOf('function');
      const call =
        handWritten[name] ?? ((values: string[]) => method!.call(client, ...values, ...(definition.body ? [{}] : [])));
      await expect(call(ids), name).rejects.toMatchObject({ code: 'INTERNAL' });
      // Path parameters are encoded, so an id can never reach another route.
      expect(sent.at(-1), name).toBe(`${definition.method} ${fillPath(definition.path, ids)}`);
      expect(sent.at(-1)).not.toMatch(/-\d\/x/);
    }
    expect(sent).toHaveLength(entries.length);
  });
});
