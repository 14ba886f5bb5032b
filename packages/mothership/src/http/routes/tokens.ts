import { CreatedToken, CreateTokenRequest, ErrorBody, TokenInfo, TokenList } from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { tokenStore } from '../../auth/token-store.ts';
import { notFound } from '../../errors.ts';
import type { RouteOptions } from '../services.ts';

const TokenParams = z.strictObject({ id: z.guid('id must be a token id') });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody };

export const tokenRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { db, bus } = services;

  app.get(
    '/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'User and registration tokens (never their values)',
        response: { 200: TokenList, ...errors },
      },
    },
    async () => ({ items: await tokenStore.list(db), next_cursor: null }),
  );

  app.post(
    '/tokens',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Create a token; its value is in this answer only',
        body: CreateTokenRequest,
        response: { 201: CreatedToken, ...errors },
      },
    },
    async (request, reply) => {
      const { name, kind, expires_in_seconds } = request.body;
      const { info, token } = await tokenStore.create(db, { kind, name, expiresInSeconds: expires_in_seconds });
      return reply.code(201).send({ ...info, token });
    },
  );

  app.delete(
    '/tokens/:id',
    {
      schema: {
        tags: ['tokens'],
        summary: 'Revoke a token at once',
        params: TokenParams,
        response: { 200: TokenInfo, ...errors },
      },
    },
    async (request) => {
      const info = await tokenStore.revoke(db, request.params.id);
      if (!info) throw notFound('token', request.params.id);
      bus.publish({ type: 'token.revoked', token_id: info.id });
      return info;
    },
  );
};
