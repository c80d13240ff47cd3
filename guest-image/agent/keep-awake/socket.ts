/**
 * The guest end of keep-awake holds: a unix socket any process in the guest
 * may use (mode 0666: the sandbox is the user's own machine, and a hold only
 * keeps it from sleeping). One request per connection, one JSON line each way:
 *
 *   -> {"action":"hold","seconds":3600}      keep the sandbox awake for an hour
 *   -> {"action":"release"}                  end the hold (also one set with `hob keep-awake`)
 *   <- {"ok":true,"delivered":true}          hobd has it (delivered false: it gets it when it next connects)
 *   <- {"ok":false,"error":"..."}            a bad request
 *
 * `hob-keep-awake` (cli.ts) is the client; programs may also speak it directly.
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import net from 'node:net';
import { dirname } from 'node:path';
import * as z from 'zod';
import { MAX_KEEP_AWAKE_SECONDS } from '../../../daemon/protocol/index.js';
import { log } from '../log.js';
import { changeKeepAwake } from './holds.js';

/** Where the agent listens in the guest (/run is a tmpfs: a cold boot starts without it). */
export const KEEP_AWAKE_SOCKET = '/run/hob/keep-awake.sock';

/** Longest request line accepted. */
const MAX_LINE = 4096;

export const KeepAwakeLocalRequestSchema = z.discriminatedUnion('action', [
  z.object({ action: z.literal('hold'), seconds: z.number().int().min(1).max(MAX_KEEP_AWAKE_SECONDS) }),
  z.object({ action: z.literal('release') }),
]);
export type KeepAwakeLocalRequest = z.infer<typeof KeepAwakeLocalRequestSchema>;

export const KeepAwakeLocalReplySchema = z.union([
  z.object({ ok: z.literal(true), delivered: z.boolean() }),
  z.object({ ok: z.literal(false), error: z.string().max(1000) }),
]);
export type KeepAwakeLocalReply = z.infer<typeof KeepAwakeLocalReplySchema>;

function answer(line: string): KeepAwakeLocalReply {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, error: 'the request is not JSON' };
  }
  const parsed = KeepAwakeLocalRequestSchema.safeParse(json);
  if (!parsed.success) return { ok: false, error: `invalid request: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}` };
  const request = parsed.data;
  const delivered = changeKeepAwake(request.action === 'hold' ? request.seconds : null);
  log(`keep-awake ${request.action === 'hold' ? `hold for ${request.seconds} s` : 'release'} asked in the guest${delivered ? '' : ' (no host watching: kept for the next one)'}`);
  return { ok: true, delivered };
}

/** Serves the socket at `path` (replacing a stale socket there) for as long as the agent lives. */
export async function serveKeepAwakeSocket(path: string = KEEP_AWAKE_SOCKET): Promise<net.Server> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch {
    // nothing there
  }
  const server = net.createServer((socket) => {
    socket.on('error', () => undefined);
    socket.setTimeout(10_000, () => socket.destroy());
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      const end = buffered.indexOf('\n');
      if (end < 0 && buffered.length <= MAX_LINE) return;
      socket.removeAllListeners('data');
      const reply = end < 0 ? { ok: false, error: 'request line too long' } : answer(buffered.slice(0, end));
      socket.end(`${JSON.stringify(reply)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o666);
  return server;
}
