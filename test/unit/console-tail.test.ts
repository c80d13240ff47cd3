/**
 * The console log's tail (vmm/console-tail.ts) on real files: across the rotated and the
 * current file, bounded whatever the files hold, a missing log, a symlink or a FIFO planted
 * where the log should be; and the CLI's line-keeping escape of guest console text.
 */
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleSafe } from '../../daemon/cli/commands/console-log.js';
import { RotatingLog } from '../../daemon/vmm/console-log.js';
import { readConsoleTail } from '../../daemon/vmm/console-tail.js';

describe('readConsoleTail', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-console-tail-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the end across console.log.1 and console.log, never more than asked', async () => {
    const sub = join(dir, 'rotated');
    await mkdir(sub);
    const log = new RotatingLog(join(sub, 'console.log'), 100);
    const all = Buffer.from(Array.from({ length: 250 }, (_, i) => 48 + (i % 10)));
    await log.write(all);
    await log.close();
    // 250 bytes at 100 per file: console.log.1 holds bytes 100..199, console.log 200..249.
    const tail = await readConsoleTail(join(sub, 'console.log'), 80);
    expect(tail.bytes.equals(all.subarray(170))).toBe(true);
    expect(tail.availableBytes).toBe(150);
    expect(tail.exists).toBe(true);
    const whole = await readConsoleTail(join(sub, 'console.log'), 1_000_000);
    expect(whole.bytes.equals(all.subarray(100))).toBe(true);
    const small = await readConsoleTail(join(sub, 'console.log'), 10);
    expect(small.bytes.equals(all.subarray(240))).toBe(true);
  });

  it('answers an empty tail when there is no log', async () => {
    const tail = await readConsoleTail(join(dir, 'nothing', 'console.log'), 1000);
    expect(tail).toEqual({ bytes: Buffer.alloc(0), availableBytes: 0, exists: false });
  });

  it('refuses a symlink planted as the log, and reads nothing from a FIFO', async () => {
    const sub = join(dir, 'planted');
    await mkdir(sub);
    await writeFile(join(dir, 'secret'), 'host secret\n');
    await symlink(join(dir, 'secret'), join(sub, 'console.log'));
    await expect(readConsoleTail(join(sub, 'console.log'), 1000)).rejects.toThrow(/ELOOP|symbolic/);
    const fifoDir = join(dir, 'fifo');
    await mkdir(fifoDir);
    await execa('mkfifo', [join(fifoDir, 'console.log')]);
    const tail = await readConsoleTail(join(fifoDir, 'console.log'), 1000);
    expect(tail.bytes.length).toBe(0);
  });
});

describe('consoleSafe', () => {
  it('keeps lines and escapes what a terminal would act on', () => {
    expect(consoleSafe('boot ok\r\n\x1b[2J\x1b]0;pwned\x07title\nbidi \u202e gnp.exe\n')).toBe('boot ok\n\\x1b[2J\\x1b]0;pwned\\x07title\nbidi \\u202e gnp.exe\n');
    expect(consoleSafe('\x9b31m\ttab')).toBe('\\x9b31m\\ttab');
  });
});
