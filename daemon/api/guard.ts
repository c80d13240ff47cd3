/**
 * The admission check every request passes before routing, HTTP and websocket
 * upgrade alike: on the TCP listener Host, Origin and a bearer token or the
 * dashboard's session cookie; on the unix socket nothing (its file
 * permissions are the authentication).
 *
 * A cookie is ambient (the browser adds it), so a request that uses it must
 * show it comes from the dashboard itself (docs/architecture.md §13): a
 * state-changing request or a websocket needs an Origin equal to the
 * dashboard's own and the session's CSRF token; any request the browser
 * marks as coming from another site (`Sec-Fetch-Site`) is refused, except a
 * top-level navigation to a page.
 */
import { UNSCOPED, type TokenScope } from '../auth/scope.js';
import type { TokenStore } from '../auth/tokens.js';
import { csrfMatches, DASHBOARD_COOKIE, type DashboardSession, type DashboardSessions } from '../dashboard/sessions.js';
import type { HobError } from '../errors.js';
import { ForbiddenError, UnauthorizedError } from './errors.js';
import { cookieValue } from './url-auth.js';
import { bearerToken, classifyHost, isStateChanging, originAllowed, type HostPolicy } from './security.js';

/** Which listener a request arrived on. */
export type ListenerKind = 'unix' | 'tcp';

export type Admission =
  /**
   * Go on; `tokenId` names the token used (TCP), undefined on the unix socket; `scope` is what it may reach;
   * `session` is the dashboard session whose cookie authenticated the request.
   */
  | { readonly kind: 'api'; readonly tokenId: string | undefined; readonly scope: TokenScope; readonly session?: DashboardSession }
  /** A dashboard page or asset asked for without credentials: the dashboard answers (a login hint). */
  | { readonly kind: 'anonymous' }
  /** A request for a sandbox URL (`<name>.localhost`): handed to the sandbox proxy, not the API. */
  | { readonly kind: 'sandbox'; readonly name: string }
  | { readonly kind: 'refused'; readonly error: HobError };

export interface GuardRequest {
  readonly method: string;
  readonly host: string | undefined;
  readonly origin: string | undefined;
  readonly authorization: string | undefined;
  readonly isUpgrade: boolean;
  readonly cookie?: string | undefined;
  /** `X-Hob-Csrf`, or the `csrf` query parameter of a websocket URL. */
  readonly csrf?: string | undefined;
  readonly secFetchSite?: string | undefined;
  readonly secFetchMode?: string | undefined;
  /** The path is one of the dashboard's pages or assets (not the API). */
  readonly dashboardPath?: boolean;
}

export function admit(listener: ListenerKind, request: GuardRequest, policy: HostPolicy, tokens: TokenStore, dashboard?: DashboardSessions): Admission {
  if (listener === 'unix') return { kind: 'api', tokenId: undefined, scope: UNSCOPED };
  const target = classifyHost(request.host, policy);
  if (target.kind === 'reject') return { kind: 'refused', error: new ForbiddenError('this Host is not served here') };
  // Sandbox URLs have their own access rules (private/public), applied by the proxy.
  if (target.kind === 'sandbox') return target;
  if (!originAllowed(request.origin, request.method, request.isUpgrade, policy)) {
    return { kind: 'refused', error: new ForbiddenError('cross-origin request refused') };
  }
  const token = bearerToken(request.authorization);
  if (token === undefined) {
    const session = dashboard?.session(cookieValue(request.cookie, DASHBOARD_COOKIE));
    if (session) return admitSession(request, session);
    if (request.dashboardPath && !request.isUpgrade && !isStateChanging(request.method)) return { kind: 'anonymous' };
    return { kind: 'refused', error: new UnauthorizedError('an Authorization: Bearer token is required') };
  }
  const record = tokens.verify(token);
  if (!record) return { kind: 'refused', error: new UnauthorizedError('invalid or revoked token') };
  return { kind: 'api', tokenId: record.id, scope: record.scope };
}

function admitSession(request: GuardRequest, session: DashboardSession): Admission {
  const site = request.secFetchSite?.toLowerCase();
  const navigation = request.dashboardPath === true && request.method === 'GET' && request.secFetchMode?.toLowerCase() === 'navigate';
  if ((site === 'cross-site' || site === 'same-site') && !navigation) {
    return { kind: 'refused', error: new ForbiddenError('request from another site refused') };
  }
  if (request.isUpgrade || isStateChanging(request.method)) {
    if (request.origin === undefined || request.host === undefined || request.origin.toLowerCase() !== `http://${request.host.toLowerCase()}`) {
      return { kind: 'refused', error: new ForbiddenError('a request made with the dashboard cookie needs the dashboard as its Origin') };
    }
    if (!csrfMatches(session, request.csrf)) return { kind: 'refused', error: new ForbiddenError('missing or wrong CSRF token') };
  }
  // Unscoped: a scoped token cannot mint a login link (api/scope.ts refuses it /v1/dashboard/login).
  return { kind: 'api', tokenId: session.tokenId, scope: UNSCOPED, session };
}
