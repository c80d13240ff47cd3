/**
 * Pure parts of services: the `needs` graph (start order, cycles, what a
 * start pulls in), the restart backoff, the log line format, line splitting,
 * and the API/CLI shapes built on them.
 */
import { describe, expect, it } from 'vitest';
import { definitionFromBody, toLogEvent, toServiceObject } from '../../daemon/api/routes/services.js';
import { ServiceSignalSchema } from '../../daemon/wire/services.js';
import { describeState, splitCreateOperands, splitOperands } from '../../daemon/cli/commands/services.js';
import type { ServiceInfo } from '../../daemon/protocol/index.js';
import { BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, BACKOFF_RESET_AFTER_MS, nextRestartDelay } from '../../guest-image/agent/services/backoff.js';
import { formatLogLine, parseLogLine } from '../../guest-image/agent/services/log-format.js';
import { dependentsOf, findCycle, startClosure, startOrder, unknownNeeds } from '../../guest-image/agent/services/order.js';
import { LineSplitter, MAX_LINE_CHARS } from '../../guest-image/agent/services/service-log.js';

const graph = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

describe('needs order', () => {
  it('puts every service after what it needs, whatever the name order', () => {
    const g = graph({ web: ['api'], api: ['db', 'cache'], db: [], cache: ['db'], zz: [] });
    const order = startOrder(g);
    expect(order).toHaveLength(5);
    const at = (n: string) => order.indexOf(n);
    expect(at('db')).toBeLessThan(at('cache'));
    expect(at('cache')).toBeLessThan(at('api'));
    expect(at('api')).toBeLessThan(at('web'));
  });

  it('finds a cycle as a closed path, and none in a diamond', () => {
    expect(findCycle(graph({ a: ['b'], b: ['c'], c: ['a'], d: [] }))).toEqual(['a', 'b', 'c', 'a']);
    expect(findCycle(graph({ a: ['a'] }))).toEqual(['a', 'a']);
    expect(findCycle(graph({ top: ['l', 'r'], l: ['base'], r: ['base'], base: [] }))).toBeUndefined();
  });

  it('still orders every name of a cyclic graph (hand-edited files) and ignores unknown needs', () => {
    const order = startOrder(graph({ a: ['b'], b: ['a'], c: ['gone'], d: ['c'] }));
    expect([...order].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(order.indexOf('c')).toBeLessThan(order.indexOf('d'));
    expect(unknownNeeds(graph({ c: ['gone'], d: ['c'] }))).toEqual([['c', 'gone']]);
  });

  it('starts exactly what a service needs, transitively, and the service last', () => {
    const g = graph({ web: ['api'], api: ['db'], db: [], other: [], worker: ['db'] });
    expect(startClosure(g, 'web')).toEqual(['db', 'api', 'web']);
    expect(startClosure(g, 'db')).toEqual(['db']);
    expect(dependentsOf(g, 'db')).toEqual(['api', 'worker']);
    expect(dependentsOf(g, 'web')).toEqual([]);
  });
});

describe('restart backoff', () => {
  it('starts at 1 s and doubles up to 60 s while the process keeps dying quickly', () => {
    const delays: number[] = [];
    let previous: number | undefined;
    for (let i = 0; i < 9; i++) {
      previous = nextRestartDelay(previous, 500);
      delays.push(previous);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
    expect(BACKOFF_INITIAL_MS).toBe(1000);
    expect(BACKOFF_MAX_MS).toBe(60_000);
  });

  it('starts over at 1 s after a process that ran for 60 s', () => {
    expect(nextRestartDelay(32_000, BACKOFF_RESET_AFTER_MS)).toBe(1000);
    expect(nextRestartDelay(32_000, BACKOFF_RESET_AFTER_MS - 1)).toBe(60_000);
  });
});

describe('log lines', () => {
  it('reads back what it writes, for output and hob events', () => {
    const entries = [
      { time: Date.UTC(2025, 0, 2, 3, 4, 5, 678), stream: 'stdout' as const, data: 'hello [stderr] world: x' },
      { time: Date.UTC(2025, 0, 2, 3, 4, 5, 679), stream: 'stderr' as const, data: '' },
      { time: Date.UTC(2025, 0, 2, 3, 4, 6), stream: 'hob' as const, event: 'started' as const, data: 'pid 42' },
      { time: Date.UTC(2025, 0, 2, 3, 4, 7), stream: 'hob' as const, event: 'exit' as const, data: 'code 3; restarting in 2s', exitCode: 3 },
      { time: Date.UTC(2025, 0, 2, 3, 4, 8), stream: 'hob' as const, event: 'stopped' as const, data: 'signal SIGTERM', exitCode: null },
    ];
    for (const entry of entries) {
      const line = formatLogLine(entry);
      expect(line).not.toContain('\n');
      expect(parseLogLine(line)).toEqual(entry);
    }
    expect(formatLogLine(entries[0]!)).toBe('2025-01-02T03:04:05.678Z [stdout] hello [stderr] world: x');
    expect(parseLogLine('not a log line')).toBeUndefined();
  });

  it('splits a byte stream into lines across chunk and UTF-8 boundaries, cutting overlong lines', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l));
    const text = Buffer.from('one\r\ntwo\nthré');
    for (const byte of text) splitter.write(Buffer.from([byte]));
    expect(lines).toEqual(['one', 'two']);
    splitter.write(Buffer.from('e\n'));
    splitter.write(Buffer.from('x'.repeat(MAX_LINE_CHARS + 5)));
    splitter.write(Buffer.from('\ntail'));
    splitter.end();
    expect(lines).toEqual(['one', 'two', 'thrée', 'x'.repeat(MAX_LINE_CHARS), 'xxxxx', 'tail']);
  });
});

describe('API and CLI shapes', () => {
  const info: ServiceInfo = {
    name: 'web',
    definition: { cmd: 'node', args: ['server.js'], env: { PORT: '8080' }, needs: ['db'], httpPort: 8080 },
    state: { status: 'failed', error: 'exited with code 1', restartCount: 2, startedAtMs: 1_700_000_000_000, nextRestartAtMs: 1_700_000_004_000, enabled: true },
    logFile: '/var/log/hob/services/web.log',
  };

  it('shows a service in the Sprites shape', () => {
    expect(toServiceObject(info)).toEqual({
      name: 'web',
      cmd: 'node',
      args: ['server.js'],
      env: { PORT: '8080' },
      needs: ['db'],
      http_port: 8080,
      state: {
        name: 'web',
        status: 'failed',
        error: 'exited with code 1',
        restart_count: 2,
        started_at: '2023-11-14T22:13:20.000Z',
        next_restart_at: '2023-11-14T22:13:24.000Z',
        enabled: true,
      },
      log_file: '/var/log/hob/services/web.log',
    });
  });

  it('turns log entries into the SDK events', () => {
    expect(toLogEvent({ time: 5, stream: 'stderr', data: 'oops' })).toEqual({ type: 'stderr', data: 'oops\n', timestamp: 5 });
    expect(toLogEvent({ time: 6, stream: 'hob', event: 'exit', data: 'code 2', exitCode: 2 })).toEqual({ type: 'exit', data: 'code 2', exit_code: 2, timestamp: 6 });
    expect(toLogEvent({ time: 7, stream: 'hob', event: 'stopped', data: 'signal SIGKILL', exitCode: null })).toEqual({ type: 'stopped', data: 'signal SIGKILL', timestamp: 7 });
  });

  it('validates a definition and a signal, refusing bad ones with 400', () => {
    expect(definitionFromBody({ cmd: 'sleep', args: ['9'], http_port: null })).toEqual({ cmd: 'sleep', args: ['9'], env: {}, needs: [] });
    expect(() => definitionFromBody({ cmd: 'x', env: { 'BAD-NAME': '1' } })).toThrow(/invalid body: env\.BAD-NAME/);
    expect(ServiceSignalSchema.parse('term')).toBe('SIGTERM');
    expect(ServiceSignalSchema.parse('SIGHUP')).toBe('SIGHUP');
    expect(ServiceSignalSchema.safeParse('SIGSEGV').success).toBe(false);
  });

  it('splits CLI operands with and without the sandbox name', () => {
    expect(splitOperands(['web'], 1)).toEqual({ name: undefined, rest: ['web'] });
    expect(splitOperands(['dev', 'web', 'HUP'], 2)).toEqual({ name: 'dev', rest: ['web', 'HUP'] });
    expect(() => splitOperands(['a', 'b', 'c'], 1)).toThrow(/expected SERVICE/);
    expect(splitCreateOperands(['dev', 'web', 'python3', '-m', 'http.server'], ['create', 'dev', 'web', '--', 'python3', '-m', 'http.server'])).toEqual({
      name: 'dev',
      svc: 'web',
      argv: ['python3', '-m', 'http.server'],
    });
    expect(splitCreateOperands(['web', 'sleep', '1'], ['create', 'web', '--', 'sleep', '1']).name).toBeUndefined();
    expect(describeState({ status: 'running', pid: 7 })).toBe('running (pid 7)');
    expect(describeState({ status: 'failed', error: 'exited with code 1', next_restart_at: new Date(10_000).toISOString() }, new Date(6_000))).toBe('failed: exited with code 1 (restart in 4s)');
  });
});
