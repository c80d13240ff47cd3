/**
 * The bounded console log (daemon/vmm/console-log.ts) against a real unix socket server
 * standing in for the VMM's console socket, and real files in a temp dir.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CONSOLE_LOG_FILE_BYTES, ConsoleReader, MAX_PENDING_BYTES, RotatingLog } from '../../daemon/vmm/console-log.js';

const MiB = 1024 ** 2;

async function sizeOf(path: string): Promise<number> {
  return stat(path).then((s) => s.size, () => 0);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A console socket like a VMM's: one client at a time, `onClient` writes to it. */
async function fakeVmmConsole(path: string, onClient: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    onClient(s);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

describe('console log', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-console-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('rotates at the cap: console.log never exceeds it and .1 + current is the tail of what was written', async () => {
    const path = join(dir, 'rot.log');
    const log = new RotatingLog(path, 1000);
    const input = randomBytes(3333);
    for (let off = 0; off < input.length; ) {
      const n = 1 + Math.floor(Math.random() * 700);
      await log.write(input.subarray(off, off + n));
      off += n;
      expect(await sizeOf(path)).toBeLessThanOrEqual(1000);
    }
    await log.close();
    const kept = Buffer.concat([await readFile(`${path}.1`), await readFile(path)]);
    expect((await stat(`${path}.1`)).size).toBe(1000);
    expect(kept.equals(input.subarray(input.length - kept.length))).toBe(true);
    expect(kept.length).toBe(1333);
    expect(((await stat(path)).mode & 0o777).toString(8)).toBe('600');
  });

  it('cuts an oversized log left by an older hob down to the cap', async () => {
    const path = join(dir, 'legacy.log');
    await writeFile(path, Buffer.alloc(5000, 'x'));
    const log = new RotatingLog(path, 1000);
    await log.write(Buffer.from('new'));
    await log.close();
    expect(await sizeOf(`${path}.1`)).toBe(1000);
    expect(await readFile(path, 'utf8')).toBe('new');
  });

  it('copies a flood from the console socket within the cap, waiting for a socket that appears late', async () => {
    const sock = join(dir, 'flood.sock');
    const logPath = join(dir, 'flood.log');
    const reader = new ConsoleReader(sock, logPath).start(); // nothing listens yet: it retries
    await new Promise((r) => setTimeout(r, 200));
    const total = 24 * MiB;
    const tail = randomBytes(4096);
    let sent = 0;
    const server = await fakeVmmConsole(sock, (s) => {
      const chunk = Buffer.alloc(64 * 1024, 'A');
      const pump = (): void => {
        while (sent < total) {
          sent += chunk.length;
          if (!s.write(chunk)) return void s.once('drain', pump);
        }
        s.write(tail);
      };
      pump();
    });
    try {
      await waitFor('the tail of the flood', async () => (await readFile(logPath).catch(() => Buffer.alloc(0))).subarray(-tail.length).equals(tail), 60_000);
      expect(await sizeOf(logPath)).toBeLessThanOrEqual(CONSOLE_LOG_FILE_BYTES);
      expect(await sizeOf(`${logPath}.1`)).toBe(CONSOLE_LOG_FILE_BYTES);
    } finally {
      await reader.stop();
      await new Promise((r) => server.close(r));
    }
  });

  it('holds at most MAX_PENDING_BYTES when the file is slower than the guest, pushing back on the VMM', async () => {
    const sock = join(dir, 'slow.sock');
    const logPath = join(dir, 'slow.log');
    // The log is a FIFO drained at ~40 KB/s (a stand-in for a slow disk) while the VMM sends 16 MiB at once.
    await execa('mkfifo', [logPath]);
    const drain = execa('sh', ['-c', `exec 3<"${logPath}"; while head -c 4096 <&3 >/dev/null; do sleep 0.1; done`], { reject: false });
    let vmm: net.Socket | undefined;
    const server = await fakeVmmConsole(sock, (s) => {
      vmm = s;
      s.write(Buffer.alloc(16 * MiB, 'B'));
    });
    const reader = new ConsoleReader(sock, logPath).start();
    try {
      let maxBuffered = 0;
      const deadline = Date.now() + 1500;
      while (Date.now() < deadline) {
        maxBuffered = Math.max(maxBuffered, reader.bufferedBytes);
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(maxBuffered).toBeGreaterThan(0);
      expect(maxBuffered).toBeLessThanOrEqual(2 * MAX_PENDING_BYTES + 64 * 1024);
      expect(vmm!.writableLength).toBeGreaterThan(8 * MiB); // the rest waits on the VMM's side
    } finally {
      await Promise.race([reader.stop(), new Promise((r) => setTimeout(r, 100))]);
      drain.kill('SIGKILL');
      await drain;
      await new Promise((r) => server.close(r));
    }
  });

  it('a new reader (hobd restarted) re-attaches and appends; finish() keeps the last words', async () => {
    const sock = join(dir, 'again.sock');
    const logPath = join(dir, 'again.log');
    const clients: net.Socket[] = [];
    const server = await fakeVmmConsole(sock, (s) => {
      clients.push(s);
      s.write(`hello ${clients.length}\n`);
    });
    try {
      const first = new ConsoleReader(sock, logPath).start();
      await waitFor('hello 1', async () => (await readFile(logPath, 'utf8').catch(() => '')).includes('hello 1'));
      await first.stop();
      const second = new ConsoleReader(sock, logPath).start();
      await waitFor('hello 2', async () => (await readFile(logPath, 'utf8').catch(() => '')).includes('hello 2'));
      // The VMM's last output, then it exits (closes the socket): finish() waits for it.
      clients.at(-1)!.end('kernel panic: last words\n');
      await second.finish();
      expect(await readFile(logPath, 'utf8')).toBe('hello 1\nhello 2\nkernel panic: last words\n');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
