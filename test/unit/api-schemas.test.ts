import { describe, expect, it } from 'vitest';
import { argvFromQuery, execEnv, specFromHttpBody, specFromQuery } from '../../daemon/core/exec-spec.js';
import { decodeContinuation, encodeContinuation } from '../../daemon/api/routes/sandboxes.js';
import { EXEC_QUERY_ARRAYS, ExecQuery, ExecUserQuery, HttpExecBody, KillSessionQuery } from '../../daemon/wire/exec.js';
import { FileModeSchema, FsWriteQuery, formatMode, resolveGuestPath } from '../../daemon/wire/fs.js';
import { parseDuration, queryObject } from '../../daemon/wire/request-primitives.js';
import { CreateSandboxBody, ListSandboxesQuery, UpdateSandboxBody } from '../../daemon/wire/sprite-requests.js';
import { spriteStatus, toSpriteObject } from '../../daemon/api/sprite-object.js';
import { parseInput } from '../../daemon/api/validate.js';
import { BadRequestError } from '../../daemon/errors.js';

const execQuery = (qs: string) => ExecQuery.safeParse(queryObject(new URLSearchParams(qs), EXEC_QUERY_ARRAYS));

describe('durations', () => {
  it('parses Go durations and plain seconds', () => {
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('0')).toBe(0);
    expect(parseDuration('0s')).toBe(0);
    expect(parseDuration('5')).toBe(5_000);
    expect(parseDuration('10 s')).toBeUndefined();
    expect(parseDuration('-1s')).toBeUndefined();
    expect(parseDuration('forever')).toBeUndefined();
  });
});

describe('exec query', () => {
  it('collects repeated cmd and env, applies defaults', () => {
    const r = execQuery('cmd=ls&cmd=-la&cmd=/tmp&env=A=1&env=B=x%3Dy');
    expect(r.success).toBe(true);
    expect(r.data).toMatchObject({ cmd: ['ls', '-la', '/tmp'], env: ['A=1', 'B=x=y'], tty: false, rows: 24, cols: 80 });
  });

  it('parses tty, size, stdin and the disconnect duration', () => {
    const r = execQuery('tty=true&rows=50&cols=180&stdin=false&max_run_after_disconnect=1m');
    expect(r.data).toMatchObject({ tty: true, rows: 50, cols: 180, stdin: false, max_run_after_disconnect: 60_000 });
  });

  it('rejects bad values', () => {
    expect(execQuery('tty=maybe').success).toBe(false);
    expect(execQuery('rows=0').success).toBe(false);
    expect(execQuery('cols=5000').success).toBe(false);
    expect(execQuery('env=NOEQUALS').success).toBe(false);
    expect(execQuery('env=1A=x').success).toBe(false);
    expect(execQuery('dir=relative/path').success).toBe(false);
    expect(execQuery('cmd=a%00b').success).toBe(false);
    expect(execQuery('max_run_after_disconnect=soon').success).toBe(false);
  });

  it('takes hob\'s user parameter: a name or uid of at most 64 characters', () => {
    expect(execQuery('cmd=id').data?.user).toBeUndefined();
    expect(execQuery('cmd=id&user=hob').data?.user).toBe('hob');
    expect(execQuery('cmd=id&user=1000').data?.user).toBe('1000');
    expect(execQuery('cmd=id&user=www-data').data?.user).toBe('www-data');
    expect(execQuery(`cmd=id&user=${'a'.repeat(64)}`).success).toBe(true);
    for (const bad of ['', 'a%20b', 'a:b', '-x', 'a%00', '..%2Fetc', 'a'.repeat(65), '12345678901']) {
      expect(execQuery(`cmd=id&user=${bad}`).success, bad).toBe(false);
    }
    expect(specFromQuery(execQuery('cmd=id&user=root').data!, {}).user).toBe('root');
    expect(specFromHttpBody(HttpExecBody.parse({ command: 'id' }), {}, 'hob').user).toBe('hob');
    expect(ExecUserQuery.safeParse({ user: 'no such' }).success).toBe(false);
  });

  it('builds argv: path replaces argv[0], bash by default', () => {
    expect(argvFromQuery(['ls', '-l'], undefined, false)).toEqual(['ls', '-l']);
    expect(argvFromQuery(['ls', '-l'], '/bin/ls', false)).toEqual(['/bin/ls', '-l']);
    expect(argvFromQuery([], undefined, true)).toEqual(['bash', '-l']);
    expect(argvFromQuery([], undefined, false)).toEqual(['bash']);
  });

  it('builds a spec: TTY always has stdin, non-TTY defaults to none', () => {
    const tty = specFromQuery(execQuery('tty=true&cmd=top').data!, {});
    expect(tty.tty).toEqual({ rows: 24, cols: 80 });
    expect(tty.stdin).toBe(true);
    const plain = specFromQuery(execQuery('cmd=cat').data!, {});
    expect(plain.tty).toBeUndefined();
    expect(plain.stdin).toBe(false);
    expect(plain.env).toBeUndefined();
  });

  it('applies the sandbox environment, and keeps PATH under a client environment', () => {
    expect(execEnv(undefined, {}, false)).toBeUndefined();
    expect(execEnv(undefined, { A: '1' }, false)).toMatchObject({ A: '1', LANG: 'C.UTF-8' });
    // HOME is the guest's to fill in: it depends on who the command runs as.
    expect(execEnv(undefined, { A: '1' }, false)).not.toHaveProperty('HOME');
    const env = execEnv({ FOO: 'bar', A: '2' }, { A: '1', B: 'b' }, true)!;
    expect(env).toMatchObject({ FOO: 'bar', A: '2', B: 'b', TERM: 'xterm-256color' });
    expect(env.PATH).toContain('/usr/bin');
  });
});

describe('HTTP exec body', () => {
  it('runs a string under sh -c and an array as argv', () => {
    const s = specFromHttpBody(HttpExecBody.parse({ command: 'echo hi | wc -c' }), {});
    expect(s.argv).toEqual(['/bin/sh', '-c', 'echo hi | wc -c']);
    expect(s.stdin).toBe(false);
    const a = specFromHttpBody(HttpExecBody.parse({ command: ['cat'], stdin: 'x', timeout: 2 }), {});
    expect(a.argv).toEqual(['cat']);
    expect(a.stdin).toBe(true);
    expect(HttpExecBody.parse({ command: 'x', timeout: '1m' }).timeout).toBe(60_000);
    expect(HttpExecBody.parse({ command: 'x', timeout: 1.5 }).timeout).toBe(1500);
  });

  it('rejects empty commands and bad timeouts', () => {
    expect(HttpExecBody.safeParse({ command: '' }).success).toBe(false);
    expect(HttpExecBody.safeParse({ command: [] }).success).toBe(false);
    expect(HttpExecBody.safeParse({ command: 'x', timeout: -1 }).success).toBe(false);
    expect(HttpExecBody.safeParse({}).success).toBe(false);
  });
});

describe('sandbox bodies and queries', () => {
  it('accepts a Sprites create body and drops keys hob ignores', () => {
    const body = CreateSandboxBody.parse({
      name: 'dev-1',
      url_settings: { auth: 'public' },
      labels: ['a', 'b c'],
      config: { ram_mb: 2048, cpus: 2, storage_gb: 10, region: 'ord' },
      environment: { FOO: 'bar' },
      wait_for_capacity: true,
      image: 'dev',
    });
    expect(body).toMatchObject({ name: 'dev-1', config: { ram_mb: 2048, cpus: 2, storage_gb: 10 } });
    expect('wait_for_capacity' in body).toBe(false);
  });

  it('rejects names that are not DNS labels and silly sizes', () => {
    for (const name of ['Dev', '-dev', 'dev-', 'a_b', '', 'x'.repeat(64), 'a.b']) {
      expect(CreateSandboxBody.safeParse({ name }).success).toBe(false);
    }
    expect(CreateSandboxBody.safeParse({ name: 'ok', config: { cpus: 0 } }).success).toBe(false);
    expect(CreateSandboxBody.safeParse({ name: 'ok', config: { storage_gb: 1.5 } }).success).toBe(false);
    expect(CreateSandboxBody.safeParse({ name: 'ok', environment: { 'BAD-NAME': 'x' } }).success).toBe(false);
    expect(CreateSandboxBody.safeParse({ name: 'ok', labels: ['a,b'] }).success).toBe(false);
    expect(CreateSandboxBody.safeParse({ name: 'ok', url_settings: { auth: 'open' } }).success).toBe(false);
  });

  it('parses updates and list queries', () => {
    expect(UpdateSandboxBody.parse({})).toEqual({});
    expect(UpdateSandboxBody.parse({ clear_labels: true })).toEqual({ clear_labels: true });
    expect(ListSandboxesQuery.parse({})).toEqual({ max_results: 50 });
    expect(ListSandboxesQuery.safeParse({ max_results: '51' }).success).toBe(false);
    expect(ListSandboxesQuery.safeParse({ max_results: '0' }).success).toBe(false);
  });

  it('round-trips continuation tokens and refuses forged ones', () => {
    expect(decodeContinuation(encodeContinuation('my-box'))).toBe('my-box');
    expect(() => decodeContinuation('!!')).toThrow(BadRequestError);
    expect(() => decodeContinuation(Buffer.from('../x').toString('base64url'))).toThrow(BadRequestError);
  });

  it('parses kill queries', () => {
    expect(KillSessionQuery.parse({})).toEqual({ signal: 'SIGTERM' });
    expect(KillSessionQuery.parse({ signal: 'KILL', timeout: '5s' })).toEqual({ signal: 'SIGKILL', timeout: 5000 });
    expect(KillSessionQuery.safeParse({ signal: 'STOP' }).success).toBe(false);
  });

  it('fails with BadRequestError naming the field', () => {
    expect(() => parseInput(CreateSandboxBody, { name: 'Bad' }, 'body')).toThrow(/invalid body: name:/);
  });
});

describe('filesystem inputs', () => {
  it('resolves paths against the working directory without escaping /', () => {
    expect(resolveGuestPath('a/b.txt', '/home/u')).toBe('/home/u/a/b.txt');
    expect(resolveGuestPath('/etc/hosts', '/home/u')).toBe('/etc/hosts');
    expect(resolveGuestPath('../../../x', '/home/u')).toBe('/x');
    expect(resolveGuestPath('x', undefined)).toBe('/x');
  });

  it('reads modes as octal strings the SDKs send, or numbers', () => {
    expect(FileModeSchema.parse('0644')).toBe(0o644);
    expect(FileModeSchema.parse('755')).toBe(0o755);
    expect(FileModeSchema.parse(0o600)).toBe(0o600);
    expect(FileModeSchema.safeParse('0999').success).toBe(false);
    expect(formatMode(0o100644)).toBe('0644');
    expect(formatMode(0o4755)).toBe('4755');
  });

  it('parses write queries with both mkdir spellings', () => {
    expect(FsWriteQuery.parse({ path: 'x', mode: '0600', mkdirParents: 'true' })).toMatchObject({ mode: 0o600, mkdirParents: true });
    expect(FsWriteQuery.parse({ path: 'x', mkdir: '1' })).toMatchObject({ mkdir: true });
    expect(FsWriteQuery.safeParse({ path: '' }).success).toBe(false);
    expect(FsWriteQuery.safeParse({ path: 'x', workingDir: 'rel' }).success).toBe(false);
  });
});

describe('Sprite object', () => {
  it('maps hob states to Sprites statuses and fields', () => {
    expect(spriteStatus('running')).toBe('running');
    expect(spriteStatus('paused')).toBe('warm');
    expect(spriteStatus('hibernated')).toBe('cold');
    expect(spriteStatus('stopped')).toBe('cold');
    const sprite = toSpriteObject(
      {
        id: 'abc',
        name: 'dev',
        state: 'paused',
        stateSince: '2025-01-01T00:00:00.000Z',
        image: 'dev',
        cpus: 2,
        memoryMiB: 2048,
        diskBytes: 10 * 1024 ** 3 + 5,
        autoCheckpoint: null,
        idle: {},
        keepAwakeUntil: null,
        forkedFrom: null,
        vmm: 'qemu',
        createdAt: '2025-01-01T00:00:00.000Z',
        updatedAt: '2025-01-01T00:00:00.000Z',
        lastError: null,
        urlAuth: 'private',
        labels: ['x'],
        environment: { A: '1' },
      },
      7707,
    );
    expect(sprite).toMatchObject({
      id: 'abc',
      name: 'dev',
      organization: 'local',
      status: 'warm',
      url: 'http://dev.localhost:7707/',
      url_settings: { auth: 'sprite' },
      config: { ram_mb: 2048, cpus: 2, storage_gb: 10 },
      state: 'paused',
      memory_mib: 2048,
    });
  });
});
