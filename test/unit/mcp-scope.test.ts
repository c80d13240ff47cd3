/** The pure parts of token scopes (auth/scope.ts, api/scope.ts) and of the MCP exec result (mcp/tools/exec.ts). */
import { describe, expect, it } from 'vitest';
import { createRefusal, inScope, UNSCOPED } from '../../daemon/auth/scope.js';
import { sandboxOfPath, scopeRefusal } from '../../daemon/api/scope.js';
import { formatExec } from '../../daemon/mcp/tools/exec.js';

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
  it('states how much of each stream hobd kept', () => {
    const text = formatExec({ output: '', stdout: `${'x'.repeat(1000)}`, stderr: '', exit_code: 0, signal: null, timed_out: false, truncated: true, stdout_bytes: 5001, stderr_bytes: 0 }, 60_000);
    expect(text).toMatch(/^exit code 0\n--- stdout ---\nx{1000}\n\[stdout truncated: only its first 1000 of 5001 bytes are shown\]$/);
    expect(formatExec({ output: '', stdout: 'é\n', stderr: 'oops\n', exit_code: 3, signal: null, timed_out: false, truncated: false, stdout_bytes: 3, stderr_bytes: 5 }, 1000)).toBe('exit code 3\n--- stdout ---\né\n--- stderr ---\noops');
    expect(formatExec({ output: '', stdout: '', stderr: '', exit_code: 137, signal: 'SIGKILL', timed_out: true, truncated: false, stdout_bytes: 0, stderr_bytes: 0 }, 2000)).toBe('timed out after 2 s and was killed (exit code 137)');
  });
});
