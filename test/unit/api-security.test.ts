import { describe, expect, it } from 'vitest';
import { bearerToken, classifyHost, originAllowed, splitHostHeader } from '../../daemon/api/security.js';

const policy = { port: 7707 };

describe('Host check', () => {
  it('accepts the loopback names with hob port', () => {
    for (const host of ['localhost:7707', '127.0.0.1:7707', '[::1]:7707', 'LOCALHOST:7707']) {
      expect(classifyHost(host, policy)).toEqual({ kind: 'api' });
    }
  });

  it('rejects other names, other ports, no port and no header (DNS rebinding)', () => {
    for (const host of ['evil.example:7707', 'localhost', 'localhost:80', '127.0.0.2:7707', '10.0.0.1:7707', 'localhost:7707.evil', '', 'a b:7707']) {
      expect(classifyHost(host, policy)).toEqual({ kind: 'reject' });
    }
    expect(classifyHost(undefined, policy)).toEqual({ kind: 'reject' });
  });

  it('routes <name>.localhost to the sandbox named by a valid DNS label only', () => {
    expect(classifyHost('dev.localhost:7707', policy)).toEqual({ kind: 'sandbox', name: 'dev' });
    expect(classifyHost('My-App.localhost:7707', policy)).toEqual({ kind: 'sandbox', name: 'my-app' });
    expect(classifyHost('-bad.localhost:7707', policy)).toEqual({ kind: 'reject' });
    expect(classifyHost('a.b.localhost:7707', policy)).toEqual({ kind: 'reject' });
  });

  it('honours configured extra host names', () => {
    expect(classifyHost('box.tailnet.ts.net:7707', { port: 7707, extraHosts: ['box.tailnet.ts.net'] })).toEqual({ kind: 'api' });
  });

  it('splits host headers', () => {
    expect(splitHostHeader('[::1]:80')).toEqual({ hostname: '[::1]', port: 80 });
    expect(splitHostHeader('x:99999')).toBeUndefined();
  });
});

describe('Origin check', () => {
  it('lets requests without Origin through (CLI, SDKs)', () => {
    expect(originAllowed(undefined, 'POST', false, policy)).toBe(true);
    expect(originAllowed(undefined, 'GET', true, policy)).toBe(true);
  });

  it('lets safe methods through from any origin, but not websocket upgrades', () => {
    expect(originAllowed('https://evil.example', 'GET', false, policy)).toBe(true);
    expect(originAllowed('https://evil.example', 'GET', true, policy)).toBe(false);
  });

  it('allows state changes only from the API origin itself', () => {
    expect(originAllowed('http://localhost:7707', 'POST', false, policy)).toBe(true);
    expect(originAllowed('http://127.0.0.1:7707', 'DELETE', false, policy)).toBe(true);
    expect(originAllowed('http://[::1]:7707', 'PUT', false, policy)).toBe(true);
    expect(originAllowed('http://localhost:7707', 'GET', true, policy)).toBe(true);
  });

  it('refuses other origins, including sandbox pages on the same port', () => {
    for (const origin of ['https://evil.example', 'http://dev.localhost:7707', 'http://localhost:8080', 'https://localhost:7707', 'null', 'file://']) {
      expect(originAllowed(origin, 'POST', false, policy)).toBe(false);
      expect(originAllowed(origin, 'GET', true, policy)).toBe(false);
    }
  });
});

describe('bearer token parsing', () => {
  it('extracts the token of a Bearer header only', () => {
    expect(bearerToken('Bearer hob_abc')).toBe('hob_abc');
    expect(bearerToken('bearer  hob_abc ')).toBe('hob_abc');
    expect(bearerToken('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
