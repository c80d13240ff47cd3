/** Error bodies to messages, failures to exit codes, connection faults, the remote exit code. */
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HobClient, apiErrorFrom, resolveTarget } from '../../daemon/cli/client.js';
import { execQuery, userParam } from '../../daemon/cli/commands/exec.js';
import { ApiError, CliError, ConnectionError, ExitCode, UsageError, connectionError, describeFailure, oneLine } from '../../daemon/cli/errors.js';
import { exitCodeFromClose, exitCodeOf } from '../../daemon/cli/exec-session.js';

describe('API errors', () => {
  it('take the message and code of the API body', () => {
    const err = apiErrorFrom(404, Buffer.from('{"error":"not_found","message":"no sandbox named x"}'));
    expect(err).toMatchObject({ status: 404, code: 'not_found', message: 'no sandbox named x', exitCode: 1 });
  });
  it('take the errno of file errors', () => {
    const err = apiErrorFrom(400, Buffer.from('{"error":"EISDIR: illegal operation on a directory","code":"EISDIR","path":"/x","message":"EISDIR: illegal operation on a directory"}'));
    expect(err.code).toBe('EISDIR');
    expect(err.message).toBe('EISDIR: illegal operation on a directory');
  });
  it('fall back to the text or the status for other bodies', () => {
    expect(apiErrorFrom(502, Buffer.from('Bad Gateway')).message).toBe('Bad Gateway');
    expect(apiErrorFrom(500, Buffer.alloc(0))).toMatchObject({ message: 'HTTP 500', code: 'http_500' });
  });
});

describe('exit codes and messages', () => {
  it.each([
    [new UsageError('bad'), 'bad', ExitCode.Usage],
    [new ApiError(409, 'conflict', 'a sandbox named dev exists'), 'a sandbox named dev exists', ExitCode.Failure],
    [new ApiError(401, 'unauthorized', 'an Authorization: Bearer token is required'), 'an Authorization: Bearer token is required (pass --token or set HOB_TOKEN; create a token with `hob token create` over the unix socket)', ExitCode.Failure],
    [new CliError('multi\nline\n  text'), 'multi line text', ExitCode.Failure],
    [new ConnectionError('socket /x', 'not-running', 'ECONNREFUSED'), 'hobd is not running (socket /x): start it with `systemctl start hobd` (or `hob daemon` where systemd is not running)', ExitCode.Unreachable],
    [new ConnectionError('socket /x', 'permission', 'EACCES'), 'no permission to use socket /x: run as root or as a member of the group hob', ExitCode.Unreachable],
    [Object.assign(new Error("ENOENT: no such file or directory, open 'x'"), { code: 'ENOENT' }), "ENOENT: no such file or directory, open 'x'", ExitCode.Failure],
    [new TypeError('oops'), 'internal error: oops', ExitCode.Failure],
  ])('%s', (err, message, exitCode) => {
    expect(describeFailure(err)).toEqual({ message, exitCode });
  });

  it('classifies socket errors', () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    expect(connectionError('w', e('ECONNREFUSED')).reason).toBe('not-running');
    expect(connectionError('w', e('ENOENT')).reason).toBe('not-running');
    expect(connectionError('w', e('EACCES')).reason).toBe('permission');
    expect(connectionError('w', e('EHOSTUNREACH')).message).toBe('cannot reach hobd (w): EHOSTUNREACH');
    expect(oneLine(' a\r\n b ')).toBe('a b');
  });

  it('reports a socket nobody listens on, and one that is not there, as hobd not running', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hob-cli-conn-'));
    try {
      const missing = new HobClient(resolveTarget({ socket: join(dir, 'none.sock') }, {}));
      await expect(missing.send('GET', '/healthz')).rejects.toMatchObject({ reason: 'not-running', exitCode: ExitCode.Unreachable });
      // A socket file whose server has gone: ECONNREFUSED.
      const path = join(dir, 'dead.sock');
      const server = createServer();
      await new Promise<void>((r) => server.listen(path, r));
      const stale = new HobClient({ kind: 'unix', socketPath: path });
      server.close();
      await expect(stale.send('GET', '/healthz')).rejects.toBeInstanceOf(ConnectionError);
      await expect(stale.openWebSocket('/v1/sandboxes/x/exec')).rejects.toMatchObject({ reason: 'not-running' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remote exit codes', () => {
  it('are the exit code, or 128 + n for signal n', () => {
    expect(exitCodeOf({ exit_code: 7 })).toBe(7);
    expect(exitCodeOf({ exit_code: 137, signal: 'SIGKILL' })).toBe(137);
    expect(exitCodeOf({ exit_code: 0, signal: 'TERM' })).toBe(143);
    expect(exitCodeOf({ exit_code: 255, signal: 'SIGNOPE' })).toBe(255);
    expect(exitCodeOf({ exit_code: 300 })).toBe(255);
  });
  it('come from TTY close codes 4000 + n when no exit frame arrived', () => {
    expect(exitCodeFromClose(4007, true)).toBe(7);
    expect(exitCodeFromClose(4007, false)).toBeUndefined();
    expect(exitCodeFromClose(1000, true)).toBeUndefined();
    expect(exitCodeFromClose(1006, true)).toBeUndefined();
  });
});

describe('the exec query', () => {
  it('is the Sprites websocket query', () => {
    expect(execQuery(['sh', '-c', 'exit 7'], { env: ['A=1'], workdir: '/srv' }, { forwardStdin: true, rows: 50, cols: 120 })).toEqual({
      cmd: ['sh', '-c', 'exit 7'],
      tty: undefined,
      rows: undefined,
      cols: undefined,
      stdin: true,
      env: ['A=1'],
      dir: '/srv',
    });
    expect(execQuery(['bash'], { tty: true }, { forwardStdin: false, rows: 50, cols: 120 })).toMatchObject({ tty: true, rows: 50, cols: 120, stdin: true });
  });
  it('sends -u as the API\'s user parameter, the command untouched', () => {
    expect(execQuery(['id', '-u'], { user: 'hob' }, { forwardStdin: false })).toMatchObject({ cmd: ['id', '-u'], user: 'hob' });
    expect(execQuery(['id'], { user: 'root' }, { forwardStdin: false })).toMatchObject({ cmd: ['id'], user: 'root' });
    expect(execQuery(['id'], { user: '1000' }, { forwardStdin: false }).user).toBe('1000');
    expect(execQuery(['id'], {}, { forwardStdin: false }).user).toBeUndefined();
  });
  it('refuses a -u that is no user name or uid before sending anything', () => {
    expect(userParam(undefined)).toBeUndefined();
    expect(userParam('www-data')).toBe('www-data');
    for (const bad of ['bad user', '', 'a:b', '-rf', 'x'.repeat(65), 'hob\n']) expect(() => userParam(bad)).toThrow(UsageError);
  });
});
