/**
 * Egress policy of a sandbox, in the Sprites shape (mounted at `/v1/sprites` and
 * `/v1/sandboxes`; semantics in ../../net/policy.ts):
 *
 * - `GET /{name}/policy/network` → `{rules: [...]}`; `{rules: []}` means unrestricted.
 * - `POST /{name}/policy/network` `{rules: [{domain, action: "allow"|"deny"} | {include: "defaults"}]}`
 *   → 204 (what the official SDKs expect; GET shows the policy now in force). Takes effect at once in a running sandbox (the next DNS
 *   query is judged by it, addresses of names no longer allowed leave the allow set),
 *   is kept for the next start of a stopped one, and the guest can read it at
 *   /.sprite/policy/network.json.
 *
 * Failures: 400 invalid JSON or policy (naming the rule; nothing changes), 404 unknown
 * sandbox, 413 body over 1 MiB.
 */
import { Hono } from 'hono';
import * as z from 'zod';
import type { ApiDeps, ApiEnv } from '../context.js';
import { readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

export function policyRoutes(deps: Pick<ApiDeps, 'sandboxes'>): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/:name/policy/network', (c) => c.json(deps.sandboxes.networkPolicy(nameParam(c.req.param('name')))));
  router.post('/:name/policy/network', async (c) => {
    const name = nameParam(c.req.param('name'));
    // The manager validates the policy itself, with messages that name the rule at fault.
    const body = await readJsonBody(c.req.raw, z.unknown());
    await deps.sandboxes.setNetworkPolicy(name, body);
    return c.body(null, 204);
  });
  return router;
}
