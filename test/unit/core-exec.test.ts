/**
 * The exec use case (daemon/core/exec.ts) against a fake guest: the activity
 * hold ends on every path, a process the guest cannot start is a shell-style
 * failure, other errors are thrown, sessions get the TTY/non-TTY defaults.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { abandonExec, runExec, startExec, startSession, type ExecCore } from '../../daemon/core/exec.js';
import type { ExecSpec } from '../../daemon/core/exec-spec.js';
import type { GuestConnection } from '../../daemon/core/guest.js';
import type { ExitStatus, GuestProcess } from '../../daemon/core/guest-process.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { AgentError, GuestError } from '../../daemon/errors.js';

interface FakeProcess extends GuestProcess {
  readonly stdout: PassThrough;
  readonly stderr: PassThrough;
  finish(status: ExitStatus): void;
  closed: boolean;
}

function fakeProcess(pid = 42): FakeProcess {
  let finish: (status: ExitStatus) => void = () => undefined;
  const exited = new Promise<ExitStatus>((resolve) => (finish = resolve));
  const process: FakeProcess = {
    pid,
    stdin: null,
    stdout: new PassThrough(),
    stderr: new PassThrough(),
    resize: () => undefined,
    signal: () => undefined,
    exited,
    closed: false,
    close: () => {
      process.closed = true;
    },
    finish: (status) => {
      process.stdout.end();
      process.stderr.end();
      finish(status);
    },
  };
  return process;
}

function core(exec: () => Promise<GuestProcess>): { core: ExecCore; sessions: SessionRegistry } {
  const sessions = new SessionRegistry();
  const guest = { exec } as unknown as GuestConnection;
  return { core: { sandboxes: { agent: async () => guest }, sessions }, sessions };
}

const spec = (tty: boolean): ExecSpec => ({ argv: ['nope'], env: undefined, cwd: undefined, tty: tty ? { rows: 30, cols: 100 } : undefined, stdin: tty, user: undefined });

describe('core exec', () => {
  it('answers a command the guest cannot find like a shell, holding nothing', async () => {
    const { core: c, sessions } = core(() => Promise.reject(new GuestError('ENOENT', 'no such file')));
    const started = await startExec(c, 'dev', spec(false));
    expect(started).toMatchObject({ ok: false, failure: { exitCode: 127 } });
    if (!started.ok) expect(started.failure.text).toContain('nope');
    expect(sessions.activity('dev').holds).toBe(0);
  });

  it('rethrows anything but a guest error, holding nothing', async () => {
    const { core: c, sessions } = core(() => Promise.reject(new AgentError('gone')));
    await expect(startExec(c, 'dev', spec(false))).rejects.toBeInstanceOf(AgentError);
    expect(sessions.activity('dev').holds).toBe(0);
  });

  it('holds the sandbox while a one-shot runs, and reports its output and shell-style exit code', async () => {
    const process = fakeProcess();
    const { core: c, sessions } = core(async () => process);
    const output: string[] = [];
    const running = runExec(c, 'dev', spec(false), (stream, data) => output.push(`${stream}:${data.toString()}`));
    await new Promise((resolve) => setImmediate(resolve));
    expect(sessions.activity('dev').holds).toBe(1);
    process.stdout.write('out');
    process.finish({ code: null, signal: 'SIGTERM' });
    const run = await running;
    expect(run).toMatchObject({ ok: true, result: { exitCode: 143, timedOut: false } });
    expect(output).toEqual(['1:out']);
    expect(sessions.activity('dev').holds).toBe(0);
  });

  it('turns a start into a session with the TTY defaults, handing the hold over to the session', async () => {
    const process = fakeProcess();
    const { core: c, sessions } = core(async () => process);
    const started = await startExec(c, 'dev', spec(true));
    if (!started.ok) throw new Error('expected a start');
    expect(sessions.activity('dev').holds).toBe(1);
    const session = startSession(c, 'dev', started, spec(true), { rows: 24, cols: 80, maxRunAfterDisconnectMs: undefined });
    expect(session.info).toMatchObject({ tty: true, rows: 30, cols: 100, maxRunAfterDisconnectMs: 0 });
    expect(sessions.activity('dev')).toMatchObject({ holds: 0, runningSessions: 1 });
    sessions.shutdown('test over');
  });

  it('gives a non-TTY session 10 s without a client, and the query size', async () => {
    const { core: c, sessions } = core(async () => fakeProcess());
    const started = await startExec(c, 'dev', spec(false));
    if (!started.ok) throw new Error('expected a start');
    const session = startSession(c, 'dev', started, spec(false), { rows: 24, cols: 80, maxRunAfterDisconnectMs: undefined });
    expect(session.info).toMatchObject({ tty: false, rows: 24, cols: 80, maxRunAfterDisconnectMs: 10_000 });
    sessions.shutdown('test over');
  });

  it('abandons a process nobody will see, ending the hold', async () => {
    const process = fakeProcess();
    const { core: c, sessions } = core(async () => process);
    const started = await startExec(c, 'dev', spec(false));
    if (!started.ok) throw new Error('expected a start');
    abandonExec(started);
    expect(process.closed).toBe(true);
    expect(sessions.activity('dev').holds).toBe(0);
  });
});
