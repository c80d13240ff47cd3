import { describe, expect, it } from 'vitest';
import {
  closeCodeFor,
  decodeClientBinary,
  decodeClientText,
  encodeExitFrame,
  encodeStreamFrame,
  normalizeSignal,
  StreamByte,
} from '../../daemon/api/exec-frames.js';
import { exitCodeOf } from '../../daemon/core/guest-process.js';

describe('exec frame codec', () => {
  it('prefixes output with its stream byte, as the SDKs read frame[0]', () => {
    const frame = encodeStreamFrame(StreamByte.Stderr, Buffer.from('oops'));
    expect(frame[0]).toBe(2);
    expect(frame.subarray(1).toString()).toBe('oops');
    expect(encodeStreamFrame(StreamByte.Stdout, Buffer.alloc(0))).toEqual(Buffer.from([1]));
  });

  it('carries the exit code as a single byte after stream byte 3', () => {
    expect(encodeExitFrame(0)).toEqual(Buffer.from([3, 0]));
    expect(encodeExitFrame(137)).toEqual(Buffer.from([3, 137]));
    expect(encodeExitFrame(256 + 5)).toEqual(Buffer.from([3, 5]));
  });

  it('decodes client stdin and stdin EOF in non-TTY mode and ignores output stream bytes', () => {
    expect(decodeClientBinary(Buffer.from([0, 104, 105]), false)).toEqual({ kind: 'stdin', data: Buffer.from('hi') });
    expect(decodeClientBinary(Buffer.from([4]), false)).toEqual({ kind: 'stdin_eof' });
    expect(decodeClientBinary(Buffer.from([1, 65]), false)).toEqual({ kind: 'ignored' });
    expect(decodeClientBinary(Buffer.from([3, 0]), false)).toEqual({ kind: 'ignored' });
    expect(decodeClientBinary(Buffer.alloc(0), false)).toEqual({ kind: 'ignored' });
  });

  it('treats TTY binary frames as raw input, including a leading 0 or 4 byte', () => {
    expect(decodeClientBinary(Buffer.from([4, 0, 65]), true)).toEqual({ kind: 'stdin', data: Buffer.from([4, 0, 65]) });
  });

  it('decodes resize and signal text messages and rejects others', () => {
    expect(decodeClientText('{"type":"resize","cols":180,"rows":50}')).toEqual({ kind: 'resize', rows: 50, cols: 180 });
    expect(decodeClientText('{"type":"signal","signal":"TERM"}')).toEqual({ kind: 'signal', signal: 'SIGTERM' });
    expect(decodeClientText('{"type":"signal","signal":"SIGUSR2"}')).toEqual({ kind: 'signal', signal: 'SIGUSR2' });
    expect(decodeClientText('{"type":"signal","signal":"STOP"}').kind).toBe('unknown');
    expect(decodeClientText('{"type":"resize","cols":0,"rows":50}').kind).toBe('unknown');
    expect(decodeClientText('ls -l').kind).toBe('unknown');
  });

  it('normalizes the signals a client may send and only those', () => {
    expect(['INT', 'term', 'SIGHUP', 'KILL', 'QUIT', 'USR1', 'USR2'].map(normalizeSignal)).toEqual([
      'SIGINT',
      'SIGTERM',
      'SIGHUP',
      'SIGKILL',
      'SIGQUIT',
      'SIGUSR1',
      'SIGUSR2',
    ]);
    expect(normalizeSignal('STOP')).toBeUndefined();
    expect(normalizeSignal('SIGSEGV')).toBeUndefined();
  });

  it('computes shell exit codes and the close code the JS SDK reads for TTYs', () => {
    expect(exitCodeOf({ code: 3, signal: null })).toBe(3);
    expect(exitCodeOf({ code: null, signal: 'SIGKILL' })).toBe(137);
    expect(exitCodeOf({ code: null, signal: 'SIGTERM' })).toBe(143);
    expect(exitCodeOf({ code: null, signal: 'SIGNOPE' })).toBe(255);
    expect(closeCodeFor(true, 0)).toBe(1000);
    expect(closeCodeFor(true, 2)).toBe(4002);
    expect(closeCodeFor(false, 2)).toBe(1000);
  });
});
