/**
 * Secrets (docs/architecture.md §11), hob extension routes:
 * - `GET /v1/secrets` → `{secrets: [{name, hosts, created_at, updated_at}]}`
 * - `PUT /v1/secrets/{name}` `{hosts, value}` → 200 the secret (create or replace)
 * - `DELETE /v1/secrets/{name}` → 204 (its grants go with it)
 * - `GET /v1/sandboxes/{name}/secrets` → `{grants: [{secret, env, placeholder, created_at}]}`
 * - `POST /v1/sandboxes/{name}/secrets` `{secret, env?}` → 201 the grant
 * - `DELETE /v1/sandboxes/{name}/secrets/{secret}` → 204
 * No response has a field for a value. 400 bad input (nothing stored), 404 unknown
 * sandbox, secret or grant, 409 a grant that exists or a variable that is taken.
 */
import { Hono } from 'hono';
import type { SandboxSecrets } from '../../core/secrets.js';
import type { GrantInfo, SecretInfo } from '../../secrets/index.js';
import { GrantSecretRequest, SetSecretRequest, type SecretGrantObject, type SecretObject } from '../../wire/secrets.js';
import type { ApiEnv } from '../context.js';
import { readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

function secretObject(s: SecretInfo): SecretObject {
  return { name: s.name, hosts: s.hosts, created_at: s.createdAt.toISOString(), updated_at: s.updatedAt.toISOString() };
}

function grantObject(g: GrantInfo): SecretGrantObject {
  return { secret: g.secretName, env: g.env, placeholder: g.placeholder, created_at: g.createdAt.toISOString() };
}

/** `/v1/secrets`. */
export function secretRoutes(secrets: SandboxSecrets): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/', (c) => c.json({ secrets: secrets.list().map(secretObject) }));
  router.put('/:name', async (c) => {
    const body = await readJsonBody(c.req.raw, SetSecretRequest);
    return c.json(secretObject(await secrets.set(c.req.param('name'), body)));
  });
  router.delete('/:name', async (c) => {
    await secrets.remove(c.req.param('name'));
    return c.body(null, 204);
  });
  return router;
}

/** `/v1/sandboxes/{name}/secrets` (and under /v1/sprites). */
export function sandboxSecretRoutes(secrets: SandboxSecrets): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/:name/secrets', (c) => c.json({ grants: secrets.grants(nameParam(c.req.param('name'))).map(grantObject) }));
  router.post('/:name/secrets', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, GrantSecretRequest);
    return c.json(grantObject(await secrets.grant(name, body)), 201);
  });
  router.delete('/:name/secrets/:secret', async (c) => {
    await secrets.revoke(nameParam(c.req.param('name')), c.req.param('secret'));
    return c.body(null, 204);
  });
  return router;
}
