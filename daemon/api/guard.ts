/**
 * The admission check every request passes before routing, HTTP and websocket
 * upgrade alike: on the TCP listener Host, Origin and bearer token; on the unix
 * socket nothing (its file permissions are the authentication).
 */
import { UNSCOPED, type TokenScope } from '../auth/scope.js';
import type { TokenStore } from '../auth/tokens.js';
import type { HobError } from '../errors.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';
import { bearerToken, classifyHost, originAllowed, type HostPolicy } from './security.js';

/** Which listener a request arrived on. */
export type ListenerKind = 'unix' | 'tcp';

export type Admission =
  /** Go on; `tokenId` names the token used (TCP), undefined on the unix socket; `scope` is what it may reach. */
  | { readonly kind: 'api'; readonly tokenId: string | undefined; readonly scope: TokenScope }
  /** A request for a sandbox URL (`<name>.localhost`): handed to the sandbox proxy, not the API. */
  | { readonly kind: 'sandbox'; readonly name: string }
  | { readonly kind: 'refused'; readonly error: HobError };

export interface GuardRequest {
  readonly method: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  readonly authorization: string | undefined;
  readonly isUpgrade: boolean;
}

export function admit(listener: ListenerKind, request: GuardRequest, policy: HostPolicy, tokens: TokenStore): Admission {
  if (listener === 'unix') return { kind: 'api', tokenId: undefined, scope: UNSCOPED };
  const target = classifyHost(request.host, policy);
  if (target.kind === 'reject') return { kind: 'refused', error: new ForbiddenError('this Host is not served here') };
  // Sandbox URLs have their own access rules (private/public), applied by the proxy.
  if (target.kind === 'sandbox') return target;
  if (!originAllowed(request.origin, request.method, request.isUpgrade, policy)) {
    return { kind: 'refused', error: new ForbiddenError('cross-origin request refused') };
  }
  const token = bearerToken(request.authorization);
  if (token === undefined) return { kind: 'refused', error: new UnauthorizedError('an Authorization: Bearer token is required') };
  const record = tokens.verify(token);
  if (!record) return { kind: 'refused', error: new UnauthorizedError('invalid or revoked token') };
  return { kind: 'api', tokenId: record.id, scope: record.scope };
}
