/**
 * Dashboard logins (docs/architecture.md §13): one-time login codes, traded
 * once for a browser session, and the sessions themselves.
 *
 * A code is minted by an authenticated API call (`POST /v1/dashboard/login`,
 * what `hob dashboard` asks over the unix socket), works once and for
 * LOGIN_TTL_MS. A session holds a random id (the cookie's value, never a hob
 * token) and a CSRF token the pages carry; it lasts SESSION_TTL_MS, until
 * logout, and only while the token that minted its code is not revoked.
 * Everything lives in hobd's memory: a restart of hobd logs browsers out.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { TokenStore } from '../auth/tokens.js';

export const DASHBOARD_COOKIE = 'hob_dash';
/** How long a login link works (once). */
export const LOGIN_TTL_MS = 2 * 60_000;
/** How long a browser session lasts. */
export const SESSION_TTL_MS = 12 * 3_600_000;
/** Bound on live codes and sessions (oldest dropped first), against a client minting them in a loop. */
const MAX_ENTRIES = 1_000;

export interface DashboardSession {
  readonly id: string;
  /** Sent back by the pages in `X-Hob-Csrf` (or `csrf=` on a websocket URL). */
  readonly csrf: string;
  /** Token that minted the login code; undefined when minted over the unix socket. */
  readonly tokenId: string | undefined;
  readonly expiresAt: number;
}

interface Code {
  readonly tokenId: string | undefined;
  readonly expiresAt: number;
}

export class DashboardSessions {
  private readonly codes = new Map<string, Code>();
  private readonly sessions = new Map<string, DashboardSession>();

  constructor(private readonly tokens: Pick<TokenStore, 'list'>, private readonly now: () => number = Date.now) {}

  /** A one-time login code. `tokenId`: the token of the API request asking for it. */
  mint(tokenId: string | undefined): { code: string; expiresAt: Date } {
    const code = randomBytes(24).toString('base64url');
    const expiresAt = this.now() + LOGIN_TTL_MS;
    put(this.codes, code, { tokenId, expiresAt }, this.now());
    return { code, expiresAt: new Date(expiresAt) };
  }

  /** Trades a code for a new session; undefined when the code is unknown, used, expired or its token revoked. */
  redeem(code: string): DashboardSession | undefined {
    const entry = this.codes.get(code);
    this.codes.delete(code);
    if (!entry || !this.valid(entry)) return undefined;
    const session: DashboardSession = {
      id: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
      tokenId: entry.tokenId,
      expiresAt: this.now() + SESSION_TTL_MS,
    };
    put(this.sessions, session.id, session, this.now());
    return session;
  }

  /** The live session with this id, or undefined. */
  session(id: string | undefined): DashboardSession | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (!session) return undefined;
    if (!this.valid(session)) {
      this.sessions.delete(id);
      return undefined;
    }
    return session;
  }

  logout(id: string): void {
    this.sessions.delete(id);
  }

  private valid(entry: Code): boolean {
    if (entry.expiresAt <= this.now()) return false;
    return entry.tokenId === undefined || this.tokens.list().some((t) => t.id === entry.tokenId);
  }
}

/** Whether `given` is the session's CSRF token (constant time). */
export function csrfMatches(session: DashboardSession, given: string | undefined): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

function put<T extends { readonly expiresAt: number }>(map: Map<string, T>, key: string, entry: T, now: number): void {
  for (const [k, e] of map) {
    if (e.expiresAt > now && map.size < MAX_ENTRIES) break;
    map.delete(k); // insertion order is expiry order (fixed TTLs): drop expired and, over the bound, oldest
  }
  map.set(key, entry);
}

/** The Set-Cookie value of a session: host-only (no Domain), HttpOnly, SameSite=Strict, expiring. */
export function sessionCookie(session: DashboardSession, now: number = Date.now()): string {
  const maxAge = Math.max(0, Math.floor((session.expiresAt - now) / 1000));
  return `${DASHBOARD_COOKIE}=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}`;
}

/** The Set-Cookie value that removes the session cookie. */
export function clearedCookie(): string {
  return `${DASHBOARD_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`;
}
