/**
 * Dashboard logins and the admission of cookie requests (docs/architecture.md §13):
 * codes work once and expire, sessions expire, end at logout and with the
 * token that minted them; a cookie request that changes state needs the
 * dashboard's Origin and the CSRF token; requests from other sites are
 * refused. A real token store on a real SQLite database; the clock is the
 * store's injected one, so expiry needs no waiting.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { admit, type GuardRequest } from '../../daemon/api/guard.js';
import { withoutHobCookie } from '../../daemon/api/url-auth.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { isDashboardPath } from '../../daemon/dashboard/routes.js';
import { DashboardSessions, LOGIN_TTL_MS, SESSION_TTL_MS, sessionCookie } from '../../daemon/dashboard/sessions.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';

describe('dashboard logins', () => {
  let dir: string;
  let db: HobDb;
  let tokens: TokenStore;
  let now: number;
  let sessions: DashboardSessions;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'hob-dash-'));
    db = openDatabase(join(dir, 'hob.db'));
    tokens = new TokenStore(db);
    now = 1_000_000;
    sessions = new DashboardSessions(tokens, () => now);
  });
  afterEach(() => {
    closeDatabase(db);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a code works once', () => {
    const { code } = sessions.mint(undefined);
    const session = sessions.redeem(code);
    expect(session).toBeDefined();
    expect(sessions.session(session!.id)).toEqual(session);
    expect(sessions.redeem(code)).toBeUndefined();
    expect(sessions.redeem('made-up')).toBeUndefined();
  });

  it('a stale code is refused', () => {
    const { code, expiresAt } = sessions.mint(undefined);
    expect(expiresAt.getTime()).toBe(now + LOGIN_TTL_MS);
    now += LOGIN_TTL_MS;
    expect(sessions.redeem(code)).toBeUndefined();
  });

  it('sessions expire, end at logout and with the token that minted their code', () => {
    const a = sessions.redeem(sessions.mint(undefined).code)!;
    now += SESSION_TTL_MS;
    expect(sessions.session(a.id)).toBeUndefined();

    const b = sessions.redeem(sessions.mint(undefined).code)!;
    sessions.logout(b.id);
    expect(sessions.session(b.id)).toBeUndefined();

    const token = tokens.create('laptop');
    const c = sessions.redeem(sessions.mint(token.id).code)!;
    expect(sessions.session(c.id)).toBeDefined();
    tokens.revoke(token.id);
    expect(sessions.session(c.id)).toBeUndefined();
  });

  it('the cookie is host-only, HttpOnly, SameSite=Strict and expiring', () => {
    const session = sessions.redeem(sessions.mint(undefined).code)!;
    const cookie = sessionCookie(session, now);
    expect(cookie).toBe(`hob_dash=${session.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}`);
    expect(cookie).not.toMatch(/Domain=/i);
  });

  describe('admission of cookie requests', () => {
    const policy = { port: 7707 };
    const base = (cookie: string, extra: Partial<GuardRequest> = {}): GuardRequest => ({
      method: 'GET',
      host: '127.0.0.1:7707',
      origin: undefined,
      authorization: undefined,
      isUpgrade: false,
      cookie,
      ...extra,
    });

    it('a GET with the cookie is admitted as the API; a state change needs the Origin and the CSRF token', () => {
      const s = sessions.redeem(sessions.mint(undefined).code)!;
      const cookie = `other=1; hob_dash=${s.id}`;
      expect(admit('tcp', base(cookie), policy, tokens, sessions)).toMatchObject({ kind: 'api', session: s });
      const post = { method: 'POST', origin: 'http://127.0.0.1:7707', csrf: s.csrf };
      expect(admit('tcp', base(cookie, post), policy, tokens, sessions)).toMatchObject({ kind: 'api' });
      for (const bad of [{ csrf: undefined }, { csrf: 'x' + s.csrf.slice(1) }, { origin: undefined }, { origin: 'http://localhost:7707' }, { origin: 'http://web.localhost:7707' }]) {
        expect(admit('tcp', base(cookie, { ...post, ...bad }), policy, tokens, sessions)).toMatchObject({ kind: 'refused' });
      }
      // Websockets likewise (the token comes in the query).
      expect(admit('tcp', base(cookie, { isUpgrade: true, origin: 'http://127.0.0.1:7707', csrf: s.csrf }), policy, tokens, sessions)).toMatchObject({ kind: 'api' });
      expect(admit('tcp', base(cookie, { isUpgrade: true, origin: 'http://127.0.0.1:7707' }), policy, tokens, sessions)).toMatchObject({ kind: 'refused' });
    });

    it('refuses what the browser marks as coming from another site, except navigating to a page', () => {
      const s = sessions.redeem(sessions.mint(undefined).code)!;
      const cookie = `hob_dash=${s.id}`;
      for (const site of ['cross-site', 'same-site']) {
        expect(admit('tcp', base(cookie, { secFetchSite: site, secFetchMode: 'cors' }), policy, tokens, sessions)).toMatchObject({ kind: 'refused' });
        expect(admit('tcp', base(cookie, { secFetchSite: site, secFetchMode: 'navigate', dashboardPath: true }), policy, tokens, sessions)).toMatchObject({ kind: 'api' });
        expect(admit('tcp', base(cookie, { secFetchSite: site, secFetchMode: 'navigate', dashboardPath: false }), policy, tokens, sessions)).toMatchObject({ kind: 'refused' });
      }
    });

    it('without credentials only a dashboard page or asset is answered (with a login hint); an unknown cookie is no credential', () => {
      expect(admit('tcp', base('hob_dash=nope', { dashboardPath: true }), policy, tokens, sessions)).toEqual({ kind: 'anonymous' });
      expect(admit('tcp', base('hob_dash=nope'), policy, tokens, sessions)).toMatchObject({ kind: 'refused' });
      expect(admit('tcp', base('', { dashboardPath: true, method: 'POST' }), policy, tokens, sessions)).toMatchObject({ kind: 'refused' });
    });
  });

  it('knows its paths, and never forwards its cookie to a sandbox', () => {
    for (const path of ['/', '/login', '/logout', '/assets/list-abc.js', '/sandboxes/web', '/fragments/sandboxes']) expect(isDashboardPath(path)).toBe(true);
    for (const path of ['/v1/sandboxes', '/healthz', '/sandboxesx', '/loginx']) expect(isDashboardPath(path)).toBe(false);
    expect(withoutHobCookie('a=1; hob_dash=x; hob_session=y; b=2')).toBe('a=1; b=2');
  });
});
