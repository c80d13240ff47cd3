/**
 * What a token may reach (docs/architecture.md §16): sandboxes whose names
 * start with a prefix, and at most so many of them. Pure rules; the API
 * applies them to every route (api/scope.ts), the MCP server's client-side
 * scope (`hob mcp --prefix`) applies the same ones.
 */
export interface TokenScope {
  /** Only sandboxes whose names start with this; null: every sandbox. */
  readonly prefix: string | null;
  /** At most this many sandboxes under the prefix (creates and forks beyond it are refused); null: no limit. */
  readonly maxSandboxes: number | null;
}

/** A token that may do anything (and the unix socket, whose permissions are its authentication). */
export const UNSCOPED: TokenScope = { prefix: null, maxSandboxes: null };

export function isScoped(scope: TokenScope): boolean {
  return scope.prefix !== null || scope.maxSandboxes !== null;
}

/** Whether the scope lets its holder see and touch the sandbox `name`. */
export function inScope(scope: TokenScope, name: string): boolean {
  return scope.prefix === null || name.startsWith(scope.prefix);
}

/** Why a new sandbox `name` is refused, given the names of the sandboxes in scope now (or being made); undefined: allowed. */
export function createRefusal(scope: TokenScope, name: string, inScopeNames: ReadonlySet<string>): string | undefined {
  if (!inScope(scope, name)) return `this token may only create sandboxes whose names start with "${scope.prefix ?? ''}"`;
  if (scope.maxSandboxes !== null && !inScopeNames.has(name) && inScopeNames.size >= scope.maxSandboxes) {
    return `this token may have at most ${scope.maxSandboxes} sandbox${scope.maxSandboxes === 1 ? '' : 'es'}${scope.prefix === null ? '' : ` starting with "${scope.prefix}"`}, and ${inScopeNames.size} exist`;
  }
  return undefined;
}

/** "prefix web-, at most 3 sandboxes" / "all sandboxes". */
export function describeScope(scope: TokenScope): string {
  const parts: string[] = [];
  if (scope.prefix !== null) parts.push(`sandboxes starting with "${scope.prefix}"`);
  if (scope.maxSandboxes !== null) parts.push(`at most ${scope.maxSandboxes}`);
  return parts.length === 0 ? 'all sandboxes' : parts.join(', ');
}
