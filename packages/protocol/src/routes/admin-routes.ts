import { RAW_RESPONSE, route } from '../route-definition.ts';
import { AuditPage, ListAuditQuery } from '../schemas/audit.ts';
import { Health, Readiness } from '../schemas/common.ts';
import { PutSecretRequest, SecretInfo, SecretList, SecretParams } from '../schemas/secrets.ts';
import { Stats, StatsTimeseries, TimeseriesQuery } from '../schemas/stats.ts';
import { CreatedToken, CreateTokenRequest, Identity, TokenInfo, TokenList } from '../schemas/tokens.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

const TokenParams = idParams('token');

/** Health, metrics, the overview's figures, tokens, secrets and the audit log. */
export const adminRoutes = {
  health: route({
    method: 'GET',
    path: '/healthz',
    access: 'public',
    tag: 'health',
    summary: 'The process is up, and its version',
    responses: { 200: Health },
  }),
  readiness: route({
    method: 'GET',
    path: '/readyz',
    access: 'public',
    tag: 'health',
    summary: 'The database answers and its schema is current',
    responses: { 200: Readiness, 503: Readiness },
  }),
  metrics: route({
    method: 'GET',
    path: '/metrics',
    access: 'viewer',
    tag: 'health',
    summary: 'Prometheus metrics (text exposition format); a user token unless BORG_METRICS_PUBLIC=true',
    responses: { 200: RAW_RESPONSE },
  }),
  stats: route({
    method: 'GET',
    path: `${API_PREFIX}/stats`,
    access: 'viewer',
    tag: 'stats',
    summary: 'Counts for the overview page',
    responses: { 200: Stats },
  }),
  statsTimeseries: route({
    method: 'GET',
    path: `${API_PREFIX}/stats/timeseries`,
    access: 'viewer',
    tag: 'stats',
    summary: 'Tasks finished, queue depth, queue wait (p50/p95) and runner utilisation over a window',
    query: TimeseriesQuery,
    responses: { 200: StatsTimeseries },
  }),
  listTokens: route({
    method: 'GET',
    path: `${API_PREFIX}/tokens`,
    access: 'admin',
    tag: 'tokens',
    summary: 'User and registration tokens (never their values)',
    responses: { 200: TokenList },
  }),
  createToken: route({
    method: 'POST',
    path: `${API_PREFIX}/tokens`,
    access: 'admin',
    tag: 'tokens',
    summary: 'Create a token; its value is in this answer only',
    body: CreateTokenRequest,
    responses: { 201: CreatedToken },
    audit: 'token.create',
  }),
  revokeToken: route({
    method: 'DELETE',
    path: `${API_PREFIX}/tokens/:id`,
    access: 'admin',
    tag: 'tokens',
    summary: 'Revoke a token at once',
    params: TokenParams,
    responses: { 200: TokenInfo },
    audit: 'token.revoke',
  }),
  putSecret: route({
    method: 'PUT',
    path: `${API_PREFIX}/secrets/:name`,
    access: 'admin',
    tag: 'secrets',
    summary: 'Create or replace a secret; its value is stored encrypted and never returned',
    params: SecretParams,
    body: PutSecretRequest,
    responses: { 200: SecretInfo, 201: SecretInfo },
    audit: 'secret.update',
  }),
  listSecrets: route({
    method: 'GET',
    path: `${API_PREFIX}/secrets`,
    access: 'admin',
    tag: 'secrets',
    summary: 'Secret names and dates (never values)',
    responses: { 200: SecretList },
  }),
  deleteSecret: route({
    method: 'DELETE',
    path: `${API_PREFIX}/secrets/:name`,
    access: 'admin',
    tag: 'secrets',
    summary: 'Delete a secret; jobs that name it can no longer run',
    params: SecretParams,
    responses: { 200: SecretInfo },
    audit: 'secret.delete',
  }),
  whoami: route({
    method: 'GET',
    path: `${API_PREFIX}/whoami`,
    access: 'viewer',
    tag: 'tokens',
    summary: 'The token making the call: its name, kind and role',
    responses: { 200: Identity },
  }),
  listAudit: route({
    method: 'GET',
    path: `${API_PREFIX}/audit`,
    access: 'admin',
    tag: 'audit',
    summary: 'The audit log, newest first: who did what to which object, from where, and how it ended',
    query: ListAuditQuery,
    responses: { 200: AuditPage },
  }),
} as const;
