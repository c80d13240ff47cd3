/** The pure parts of token scopes (auth/scope.ts, api/scope.ts) and of the MCP exec result (mcp/tools/exec.ts). */
import { describe, expect, it } from 'vitest';
import { createRefusal, inScope, UNSCOPED } from '../../daemon/auth/scope.js';
import { sandboxOfPath, scopeRefusal } from '../../daemon/api/scope.js';
import { formatExec, tail } from '../../daemon/mcp/tools/exec.js';

const scope = { prefix: 'agent-', maxSandboxes: 2 };

describe('token scopes', () => {
  it('finds the sandbox a path names, the collection, or another route', () => {
    expect(sandboxOfPath('/v1/sandboxes')).toBeUndefined();
    expect(sandboxOfPath('/v1/sprites/')).toBeUndefined();
    expect(sandboxOfPath('/v1/sandboxes/agent-a/exec/12')).toBe('agent-a');
    expect(sandboxOfPath('/v1/sandboxes/%6Fther')).toBe('other');
    expect(sandboxOfPath('/v1/sandboxes//other')).toBeNull();
    expect(sandboxOfPath('/v1/spritesX/other')).toBeNull();
    expect(sandboxOfPath('/v1/tokens')).toBeNull();
  });

  it('lets an unscoped token through everywhere, and a scoped one only to its sandboxes and a few harmless routes', () => {
    expect(scopeRefusal(UNSCOPED, 'POST', '/v1/tokens')).toBeUndefined();
    expect(scopeRefusal(scope, 'GET', '/v1/sandboxes/agent-a/fs/read')).toBeUndefined();
    expect(scopeRefusal(scope, 'GET', '/v1/sandboxes')).toBeUndefined();
    expect(scopeRefusal(scope, 'POST', '/mcp')).toBeUndefined();
    expect(scopeRefusal(scope, 'GET', '/v1/images')).toBeUndefined();
    expect(scopeRefusal(scope, 'GET', '/v1/sandboxes/other')?.message).toBe('no sandbox named "other"');
    expect(scopeRefusal(scope, 'GET', '/v1/sandboxes//agent-a')?.name).toBe('ForbiddenError');
    expect(scopeRefusal(scope, 'POST', '/v1/images/dev/build')?.message).toMatch(/cannot use POST \/v1\/images\/dev\/build/);
    expect(scopeRefusal(scope, 'GET', '/v1/dashboard')).toBeDefined();
  });

  it('allows a new sandbox only inside the prefix and under the count', () => {
    expect(inScope(scope, 'agent-1')).toBe(true);
    expect(inScope(scope, 'agent')).toBe(false);
    expect(createRefusal(scope, 'agent-1', new Set(['agent-0']))).toBeUndefined();
    expect(createRefusal(scope, 'other', new Set())).toMatch(/start with "agent-"/);
    expect(createRefusal(scope, 'agent-2', new Set(['agent-0', 'agent-1']))).toBe('this token may have at most 2 sandboxes starting with "agent-", and 2 exist');
    // A name that exists is not a new sandbox: the manager answers the clash.
    expect(createRefusal(scope, 'agent-1', new Set(['agent-0', 'agent-1']))).toBeUndefined();
    expect(createRefusal({ prefix: null, maxSandboxes: 0 }, 'x', new Set())).toMatch(/at most 0 sandboxes, and 0 exist/);
  });
});

describe('MCP exec results', () => {
  it('keeps the end of a long output without splitting a UTF-8 character, and says what it cut', () => {
    expect(tail('short', 100)).toEqual({ text: 'short', dropped: 0, total: 5 });
    const cut = tail(`${'é'.repeat(10)}END`, 6);
    expect(cut.text).toBe('éEND');
    expect(cut.total).toBe(23);
    const text = formatExec({ output: '', stdout: `${'x'.repeat(5000)}\n`, stderr: '', exit_code: 0, signal: null, timed_out: false, truncated: false }, 1000, 60_000);
    expect(text).toMatch(/^exit code 0\n--- stdout ---\nx{999}\n\[stdout truncated: only its last 1000 of 5001 bytes are shown\]$/);
    expect(formatExec({ output: '', stdout: '', stderr: '', exit_code: 137, signal: 'SIGKILL', timed_out: true, truncated: false }, 1000, 2000)).toBe('timed out after 2 s and was killed (exit code 137)');
  });
});
