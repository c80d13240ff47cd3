/**
 * connectUnixWhenReady (daemon/vmm/unix.ts) on real unix sockets: it keeps retrying until a
 * just-started VMM's socket appears, and gives up with VmmError when the VMM is gone or the
 * time is up.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { VmmError } from '../../daemon/errors.js';
import { connectUnixWhenReady } from '../../daemon/vmm/unix.js';

describe('connectUnixWhenReady', () => {
  const dirs: string[] = [];
  const servers: net.Server[] = [];
  const dir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'hob-unix-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  it('connects to a socket that appears later', async () => {
    const path = join(dir(), 'qmp.sock');
    const accepted = new Promise<void>((resolve) => {
      setTimeout(() => {
        const server = net.createServer(() => resolve());
        servers.push(server);
        server.listen(path);
      }, 300);
    });
    const sock = await connectUnixWhenReady(path, { timeoutMs: 10_000, what: 'test' });
    await accepted;
    expect(sock.readyState).toBe('open');
    sock.destroy();
  });

  it('gives up with VmmError once the process is gone', async () => {
    const path = join(dir(), 'never.sock');
    let calls = 0;
    const err = await connectUnixWhenReady(path, { timeoutMs: 10_000, what: 'start of x', gone: () => ++calls > 3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmmError);
    expect((err as Error).message).toContain('the VMM exited before');
  });

  it('gives up with VmmError when the time is up', async () => {
    const path = join(dir(), 'never.sock');
    const err = await connectUnixWhenReady(path, { timeoutMs: 100, what: 'start of x' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VmmError);
    expect((err as Error).message).toContain('did not accept connections within 100 ms');
  });
});
