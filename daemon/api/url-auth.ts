/**
 * Who may use a sandbox URL (`http://<name>.localhost:<port>/`).
 *
 * A public sandbox's URL is open to anyone who can reach the listener. A
 * private one (the default) needs either
 * - `Authorization: Bearer <hob token>` (curl, scripts, the SDKs), or
 * - the cookie `hob_session`, which browsers get by opening a one-time login
 *   link: `POST /v1/sandboxes/{name}/url/login` (authenticated like any API
 *   call; `hob url NAME --login`) returns `http://<name>.localhost:<port>/?hob_login=<code>`;
 *   opening it sets the cookie for that host and redirects to the same URL
 *   without the code.
 *
 * The cookie is host-only (only `<name>.localhost` gets it; a cookie of the API
 * host `localhost` would never reach the sandbox host), HttpOnly (the sandbox's
 * own scripts cannot read it), SameSite=Lax (sent when following a link, not
 * on cross-site subrequests). It holds a random session id, never the token; a
 * session is good for one sandbox, for SESSION_TTL_MS, and only while the token
 * that created it is not revoked. Sessions live in hobd's memory: a restart of
 * hobd logs browsers out.
 *
 * hob's credentials never reach the guest: the `hob_session` cookie is removed
 * from every forwarded request, and so is an Authorization header carrying a
 * valid hob token (an Authorization of the application's own passes through).
 */
import { randomBytes } from 'node:crypto';
import { inScope } from '../auth/scope.js';
import type { TokenStore } from '../auth/tokens.js';
import { DASHBOARD_COOKIE } from '../dashboard/sessions.js';
import { bearerToken } from './security.js';

export const SESSION_COOKIE = 'hob_session';
export const LOGIN_PARAM = 'hob_login';
/** How long a login link works (once). */
export const LOGIN_TTL_MS = 5 * 60_000;
/** How long a browser session lasts. */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Bound on live grants and sessions (oldest dropped first), against a client minting them in a loop. */
const MAX_ENTRIES = 10_000;

interface Entry {
  readonly sandbox: string;
  /** Token that created it; undefined when created over the unix socket (no token). */
  readonly tokenId: string | undefined;
  readonly expiresAt: number;
}

export interface LoginGrant {
  /** The one-time code, for the `hob_login` query parameter. */
  readonly code: string;
  readonly expiresAt: Date;
}

/** What the sandbox host decided about a request. */
export type UrlAccess =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string };

/** The parts of a request the decision needs. */
export interface CredentialHeaders {
  readonly authorization: string | undefined;
  readonly cookie: string | undefined;
}

export class UrlAuthenticator {
  private readonly grants = new Map<string, Entry>();
  private readonly sessions = new Map<string, Entry>();

  constructor(private readonly tokens: TokenStore) {}

  /** A one-time login code for a sandbox's URL. `tokenId`: the token of the API request asking for it. */
  grant(sandbox: string, tokenId: string | undefined): LoginGrant {
    const code = randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + LOGIN_TTL_MS;
    put(this.grants, code, { sandbox, tokenId, expiresAt });
    return { code, expiresAt: new Date(expiresAt) };
  }

  /**
   * Trades a login code for a session id (the cookie's value). Undefined when
   * the code is unknown, used, expired, for another sandbox, or its token was revoked.
   */
  redeem(sandbox: string, code: string): string | undefined {
    const entry = this.grants.get(code);
    this.grants.delete(code);
    if (!entry || !this.valid(entry, sandbox)) return undefined;
    const id = randomBytes(24).toString('base64url');
    put(this.sessions, id, { sandbox, tokenId: entry.tokenId, expiresAt: Date.now() + SESSION_TTL_MS });
    return id;
  }

  /** Decides whether a request may reach a private sandbox's URL. */
  check(sandbox: string, headers: CredentialHeaders): UrlAccess {
    const bearer = bearerToken(headers.authorization);
    if (bearer !== undefined) {
      const token = this.tokens.verify(bearer);
      // A scoped token opens only the URLs of the sandboxes it reaches (docs/architecture.md §16).
      if (token && inScope(token.scope, sandbox)) return { ok: true };
      // Not a hob token: maybe the application's own; a hob session may still admit the request.
    }
    const session = cookieValue(headers.cookie, SESSION_COOKIE);
    if (session !== undefined) {
      const entry = this.sessions.get(session);
      if (entry && this.valid(entry, sandbox)) return { ok: true };
      if (entry && entry.expiresAt <= Date.now()) this.sessions.delete(session);
    }
    return {
      ok: false,
      reason: `the URL of sandbox ${sandbox} is private: send Authorization: Bearer <hob token>, or open a login link from \`hob url ${sandbox} --login\` (or make it public: \`hob url ${sandbox} --public\`)`,
    };
  }

  /** Whether an Authorization header carries a hob token (then it is not forwarded to the guest). */
  isHobAuthorization(authorization: string | undefined): boolean {
    const bearer = bearerToken(authorization);
    return bearer !== undefined && this.tokens.verify(bearer) !== undefined;
  }

  private valid(entry: Entry, sandbox: string): boolean {
    if (entry.sandbox !== sandbox || entry.expiresAt <= Date.now()) return false;
    if (entry.tokenId === undefined) return true;
    return this.tokens.list().some((t) => t.id === entry.tokenId);
  }
}

function put(map: Map<string, Entry>, key: string, entry: Entry): void {
  const now = Date.now();
  for (const [k, e] of map) {
    if (e.expiresAt > now && map.size < MAX_ENTRIES) break;
    map.delete(k); // insertion order is expiry order (fixed TTLs): drop expired and, over the bound, oldest
  }
  map.set(key, entry);
}

/** The value of a cookie in a Cookie header (first one of that name), or undefined. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** hob's cookies: the sandbox URL's, and the dashboard's (host-only on the API host, so a browser never sends it here; dropped all the same). */
const HOB_COOKIES = [SESSION_COOKIE, DASHBOARD_COOKIE];

/** A Cookie header without hob's cookies; undefined when nothing is left. */
export function withoutHobCookie(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const kept = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p !== '' && !HOB_COOKIES.includes(p.slice(0, Math.max(0, p.indexOf('='))).trim()));
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/** The Set-Cookie value that stores a session for the sandbox host. */
export function sessionCookie(id: string): string {
  return `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${Math.floor(SESSION_TTL_MS / 1000)}`;
}
