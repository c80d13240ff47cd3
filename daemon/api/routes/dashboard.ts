/**
 * `POST /v1/dashboard/login` → `{url, expires_at}` (wire/dashboard.ts): a
 * one-time link that logs a browser in to the dashboard (`hob dashboard`;
 * docs/architecture.md §13). Any authenticated API client may ask, except a
 * browser through its dashboard cookie: a session does not mint sessions.
 */
import { Hono } from 'hono';
import type { DashboardSessions } from '../../dashboard/sessions.js';
import type { DashboardLoginResponse } from '../../wire/dashboard.js';
import type { ApiEnv } from '../context.js';
import { ForbiddenError } from '../errors.js';

export function dashboardLoginRoutes(sessions: DashboardSessions, port: number): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.post('/login', (c) => {
    if (c.get('dashboardSession')) throw new ForbiddenError('a dashboard session cannot make login links; run `hob dashboard`');
    const { code, expiresAt } = sessions.mint(c.get('tokenId'));
    const body: DashboardLoginResponse = { url: `http://127.0.0.1:${port}/login?code=${code}`, expires_at: expiresAt.toISOString() };
    return c.json(body);
  });
  return router;
}
