/**
 * The pure parts of port forwarding and sandbox URLs: `hob proxy` arguments,
 * the port hint, cookie handling, the proxy request schema, and the upgrade
 * request head sent to the guest.
 */
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { requestHead } from '../../daemon/api/sandbox-host.js';
import { cookieValue, sessionCookie, withoutHobCookie } from '../../daemon/api/url-auth.js';
import { ProxyRequest } from '../../daemon/api/ws/proxy-socket.js';
import { parseForward, parseStdioTarget } from '../../daemon/cli/commands/proxy.js';
import { UsageError } from '../../daemon/cli/errors.js';
import { portHint } from '../../daemon/cli/port-hint.js';

describe('hob proxy arguments', () => {
  it('reads PORT and LOCAL:REMOTE, LOCAL 0 meaning any free port', () => {
    expect(parseForward('5432')).toEqual({ localPort: 5432, remotePort: 5432 });
    expect(parseForward('8000:3000')).toEqual({ localPort: 8000, remotePort: 3000 });
    expect(parseForward('0:8080')).toEqual({ localPort: 0, remotePort: 8080 });
  });

  it('refuses what is not a port forward', () => {
    for (const bad of ['', 'x', '0', '70000', '1:0', '1:2:3', 'localhost:22', '-1']) expect(() => parseForward(bad), bad).toThrow(UsageError);
  });

  it('reads -W targets', () => {
    expect(parseStdioTarget('localhost:22')).toEqual({ host: 'localhost', port: 22 });
    expect(parseStdioTarget('[::1]:5432')).toEqual({ host: '::1', port: 5432 });
    expect(parseStdioTarget('22')).toEqual({ host: 'localhost', port: 22 });
    for (const bad of ['host', 'host:', ':22', 'a b:22', 'host:99999']) expect(() => parseStdioTarget(bad), bad).toThrow(UsageError);
  });
});

describe('port hints', () => {
  it('names the proxy command, and the URL when the port has one', () => {
    expect(portHint('dev', { type: 'port_opened', port: 3000, address: '::' })).toBe('port 3000 opened: hob proxy dev 3000');
    expect(portHint('dev', { type: 'port_opened', port: 8080, address: '0.0.0.0', url: 'http://dev.localhost:7707/' })).toBe(
      'port 8080 opened: http://dev.localhost:7707/ or hob proxy dev 8080',
    );
    expect(portHint('dev', { type: 'port_closed', port: 3000 })).toBe('port 3000 closed');
  });
});

describe('cookies', () => {
  it('finds a cookie and removes only hob_session', () => {
    expect(cookieValue('a=1; hob_session=abc; b=2', 'hob_session')).toBe('abc');
    expect(cookieValue('a=1', 'hob_session')).toBeUndefined();
    expect(cookieValue(undefined, 'hob_session')).toBeUndefined();
    expect(withoutHobCookie('a=1; hob_session=abc; b=2')).toBe('a=1; b=2');
    expect(withoutHobCookie('hob_session=abc')).toBeUndefined();
    expect(withoutHobCookie('xhob_session=1')).toBe('xhob_session=1');
  });

  it('sets the session cookie host-only, HttpOnly and SameSite=Lax', () => {
    const cookie = sessionCookie('id1');
    expect(cookie).toMatch(/^hob_session=id1; Path=\/; HttpOnly; SameSite=Lax; Max-Age=\d+$/);
    expect(cookie).not.toContain('Domain');
  });
});

describe('the proxy request', () => {
  it('takes the Sprites shape, host defaulting to localhost', () => {
    expect(ProxyRequest.parse({ host: 'localhost', port: 8080 })).toEqual({ host: 'localhost', port: 8080 });
    expect(ProxyRequest.parse({ port: 22, half_close: true })).toEqual({ host: 'localhost', port: 22, half_close: true });
    expect(ProxyRequest.parse({ host: '[::1]', port: 1 }).host).toBe('[::1]');
  });

  it('refuses bad ports and hosts', () => {
    for (const bad of [{ port: 0 }, { port: 65536 }, { port: '80' }, { host: 'a b', port: 80 }, { host: 'x\r\ny', port: 80 }, {}]) {
      expect(ProxyRequest.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('the upgrade request head sent to the guest', () => {
  it('keeps the request as received without hob credentials', () => {
    const request = {
      method: 'GET',
      url: '/ws?x=1',
      rawHeaders: ['Host', 'dev.localhost:7707', 'Upgrade', 'websocket', 'Connection', 'Upgrade', 'Authorization', 'Bearer hob_secret', 'Cookie', 'a=1; hob_session=s', 'Cookie', 'hob_session=t'],
    } as unknown as IncomingMessage;
    const head = requestHead(request, { isHobAuthorization: (value) => value === 'Bearer hob_secret' });
    expect(head).toBe('GET /ws?x=1 HTTP/1.1\r\nHost: dev.localhost:7707\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: a=1\r\n\r\n');
    const appAuth = requestHead({ ...request, rawHeaders: ['Authorization', 'Basic eA=='] } as unknown as IncomingMessage, { isHobAuthorization: () => false });
    expect(appAuth).toContain('Authorization: Basic eA==\r\n');
  });
});
