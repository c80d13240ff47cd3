/**
 * Token management (hob extension), at `/v1/tokens`:
 * - `GET /` → `{tokens: [{id, name, created_at, last_used_at, prefix, max_sandboxes}]}`
 * - `POST /` `{name, prefix?, max_sandboxes?}` → 201 `{id, name, token, ...}`; the
 *   token is shown this once. 409 when the name is taken. `prefix` and
 *   `max_sandboxes` scope the token (docs/architecture.md §16).
 * A scoped token may not use these routes (403, api/scope.ts).
 * - `DELETE /{id}` → 204; 404 for an unknown id.
 */
import { Hono } from 'hono';
import type { TokenInfo } from '../../auth/tokens.js';
import { CreateTokenBody, TokenIdSchema, type CreatedTokenObject, type TokenList, type TokenObject } from '../../wire/tokens.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { parseInput, readJsonBody } from '../validate.js';

function tokenJson(token: TokenInfo): TokenObject {
  return { id: token.id, name: token.name, created_at: token.createdAt, last_used_at: token.lastUsedAt, prefix: token.scope.prefix, max_sandboxes: token.scope.maxSandboxes };
}

export function tokenRoutes(deps: ApiDeps): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  router.get('/', (c) => {
    const list: TokenList = { tokens: deps.tokens.list().map(tokenJson) };
    return c.json(list);
  });
  router.post('/', async (c) => {
    const body = await readJsonBody(c.req.raw, CreateTokenBody);
    const created = deps.tokens.create(body.name, { prefix: body.prefix ?? null, maxSandboxes: body.max_sandboxes ?? null });
    const json: CreatedTokenObject = { ...tokenJson(created), token: created.token };
    return c.json(json, 201);
  });
  router.delete('/:id', (c) => {
    deps.tokens.revoke(parseInput(TokenIdSchema, c.req.param('id'), 'token id'));
    return c.body(null, 204);
  });
  return router;
}
