/** daemon/core/exec.ts startExec: what reaches the agent's exec for an ExecSpec's user, and ENOUSER as a client error. */
import { describe, expect, it } from 'vitest';
import type { ExecOptions } from '../../daemon/agent/index.js';
import { startExec } from '../../daemon/core/exec.js';
import type { ExecSpec } from '../../daemon/core/exec-spec.js';
import type { GuestConnection } from '../../daemon/core/guest.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { BadRequestError, GuestError, UnknownUserError } from '../../daemon/errors.js';

/** An agent that records the exec options it gets, with or without the default-user capability. */
function fakeAgent(capabilities: string[], fail?: Error): { agent: GuestConnection; sent: ExecOptions[] } {
  const sent: ExecOptions[] = [];
  const agent = {
    supports: (c: string) => capabilities.includes(c),
    exec: (options: ExecOptions) => {
      sent.push(options);
      return fail ? Promise.reject(fail) : Promise.resolve({});
    },
  } as unknown as GuestConnection;
  return { agent, sent };
}

/** Starts `spec` in a sandbox whose guest is `agent`. */
function startProcess(agent: GuestConnection, spec: ExecSpec): Promise<unknown> {
  return startExec({ sandboxes: { agent: async () => agent }, sessions: new SessionRegistry() }, 'dev', spec);
}

const spec = (over: Partial<ExecSpec>): ExecSpec => ({ argv: ['id'], env: undefined, cwd: undefined, tty: undefined, stdin: false, user: undefined, ...over });

describe('startExec and the user', () => {
  it('passes the user through, and leaves HOME to an agent that knows the default user', async () => {
    const { agent, sent } = fakeAgent(['exec.default-user']);
    await startProcess(agent, spec({ user: 'hob', env: { PATH: '/bin' } }));
    await startProcess(agent, spec({ env: { PATH: '/bin' } }));
    expect(sent[0]).toMatchObject({ user: 'hob', env: { PATH: '/bin' } });
    expect(sent[1]?.env).toEqual({ PATH: '/bin' });
  });

  it('gives an older agent (always root) root\'s HOME under a given env, as before', async () => {
    const { agent, sent } = fakeAgent([]);
    await startProcess(agent, spec({ env: { PATH: '/bin' } }));
    await startProcess(agent, spec({ env: { PATH: '/bin', HOME: '/x' } }));
    await startProcess(agent, spec({ user: 'nobody', env: { PATH: '/bin' } }));
    await startProcess(agent, spec({}));
    expect(sent.map((o) => o.env?.HOME)).toEqual(['/root', '/x', undefined, undefined]);
  });

  it('turns the agent\'s ENOUSER into a 400-class UnknownUserError; other guest errors are a shell-style start failure', async () => {
    const unknown = startProcess(fakeAgent([], new GuestError('ENOUSER', 'exec id: no such user: ghost')).agent, spec({ user: 'ghost' }));
    await expect(unknown).rejects.toBeInstanceOf(UnknownUserError);
    await expect(unknown).rejects.toBeInstanceOf(BadRequestError);
    await expect(unknown).rejects.toThrow('cannot run as ghost: no such user in the sandbox');
    await expect(startProcess(fakeAgent([], new GuestError('ENOENT', 'nope')).agent, spec({}))).resolves.toMatchObject({ ok: false, failure: { exitCode: 127 } });
  });
});
