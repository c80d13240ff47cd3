import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Two connected real unix sockets, for protocol tests without a VM. */
export async function unixSocketPair(): Promise<{ a: net.Socket; b: net.Socket; dispose: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'hob-pair-'));
  const path = join(dir, 's.sock');
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const a = net.connect(path);
  await new Promise<void>((resolve) => a.once('connect', resolve));
  const b = await accepted;
  server.close();
  return {
    a,
    b,
    dispose: () => {
      a.destroy();
      b.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
