/**
 * Holds a scoped token to its scope on every route (docs/architecture.md §16).
 *
 * Default deny: a scoped token reaches `/healthz`, `/mcp` (whose tools call
 * back into this API with the same token), the image list, and the sandbox
 * routes of sandboxes inside its prefix; any other route (tokens, image
 * builds, and whatever is added later) is 403. A sandbox outside the prefix
 * answers exactly as an unknown one (404), so a scoped client cannot even
 * learn that it exists. The list is filtered here; creates and forks take a
 * slot from `CreateSlots` so that concurrent requests cannot exceed the count.
 */
import type { MiddlewareHandler } from 'hono';
import { createRefusal, describeScope, inScope, isScoped, type TokenScope } from '../auth/scope.js';
import type { Sandbox, SandboxService } from '../core/types.js';
import { NotFoundError } from '../errors.js';
import type { ApiEnv } from './context.js';
import { ForbiddenError } from './errors.js';

const SANDBOX_ROUTE = /^\/v1\/(?:sprites|sandboxes)(?:\/([^/]*)(\/.*)?)?$/;

/** The answer for a sandbox a scope does not reach: the manager's own words for an unknown name. */
export function outOfScope(name: string): NotFoundError {
  return new NotFoundError(`no sandbox named "${name}"`);
}

/** The sandbox a sandbox-route path names (`/v1/sandboxes/NAME/...`), undefined for the collection itself, null for another route. */
export function sandboxOfPath(path: string): string | undefined | null {
  const m = SANDBOX_ROUTE.exec(path);
  if (!m) return null;
  if (m[1] === undefined || (m[1] === '' && m[2] === undefined)) return undefined;
  if (m[1] === '') return null; // `//name`: not a route hob serves, refused rather than guessed at
  try {
    return decodeURIComponent(m[1]);
  } catch {
    return m[1]; // the route's own validation refuses it
  }
}

/** Refusal of a request by `scope`, or undefined when the scope lets it through. */
export function scopeRefusal(scope: TokenScope, method: string, path: string): Error | undefined {
  if (!isScoped(scope)) return undefined;
  if (path === '/healthz' || path === '/mcp') return undefined;
  if (path === '/v1/images' && method === 'GET') return undefined;
  const sandbox = sandboxOfPath(path);
  if (sandbox === undefined) return undefined; // list (filtered) and create (checked) of the collection
  if (sandbox !== null) return inScope(scope, sandbox) ? undefined : outOfScope(sandbox);
  return new ForbiddenError(`this token is limited to ${describeScope(scope)}: it cannot use ${method} ${path}`);
}

export function scopeMiddleware(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const refusal = scopeRefusal(c.get('scope'), c.req.method, c.req.path);
    if (refusal) throw refusal;
    await next();
  };
}

/** The sandboxes a scope sees. */
export function visible(scope: TokenScope, sandboxes: readonly Sandbox[]): Sandbox[] {
  return sandboxes.filter((s) => inScope(scope, s.name));
}

/** Names of sandboxes being created or forked right now, so that two concurrent creates count twice. */
export class CreateSlots {
  private readonly making = new Set<string>();

  /**
   * Runs `make` (a create or fork of `name`) if `scope` allows one more
   * sandbox; throws ForbiddenError before anything happens otherwise. The
   * check and the reservation happen in one step.
   */
  async run<T>(scope: TokenScope, name: string, service: Pick<SandboxService, 'list'>, make: () => Promise<T>): Promise<T> {
    if (isScoped(scope)) {
      const names = new Set([...service.list().map((s) => s.name), ...this.making].filter((n) => inScope(scope, n)));
      const refusal = createRefusal(scope, name, names);
      if (refusal !== undefined) throw new ForbiddenError(refusal);
    }
    if (this.making.has(name)) return make(); // the manager answers the clash (409)
    this.making.add(name);
    try {
      return await make();
    } finally {
      this.making.delete(name);
    }
  }
}
