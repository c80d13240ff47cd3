/**
 * `hob-keep-awake`: keeps the sandbox this runs in from going to sleep (design
 * section 7), from inside the guest. Installed as /usr/local/bin/hob-keep-awake,
 * a wrapper for `/opt/hob/node /opt/hob/agent/agent.mjs keep-awake ARGS`.
 *
 *   hob-keep-awake --for 1h      hold for an hour (90, 90s, 10m, 2h, 1d; at most 7d)
 *   hob-keep-awake --release     end the hold (also one set from the host)
 *
 * It is the same hold as `hob keep-awake NAME --for ...` on the host: the
 * last change wins. Exit status 0 when the agent took the request, 1 when the
 * agent cannot be reached or refused it, 2 for a usage error.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { MAX_KEEP_AWAKE_SECONDS } from '../../../daemon/protocol/index.js';
import { KEEP_AWAKE_SOCKET, KeepAwakeLocalReplySchema, type KeepAwakeLocalRequest } from './socket.js';

/** The agent's first argument that selects this command instead of the agent. */
export const KEEP_AWAKE_COMMAND = 'keep-awake';

const USAGE = `usage: hob-keep-awake --for DURATION | --release
  --for DURATION   keep this sandbox awake for DURATION (90, 90s, 10m, 2h, 1d; at most 7d)
  --release        end the keep-awake hold
`;

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90", "90s", "10m", "2h", "1d" in seconds, or undefined if it is none of these. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})([smhd]?)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * (UNIT_SECONDS[m[2] || 's'] ?? 1);
}

function send(socketPath: string, request: KeepAwakeLocalRequest): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let text = '';
    socket.setEncoding('utf8');
    socket.setTimeout(10_000, () => socket.destroy(new Error('the agent did not answer within 10 s')));
    socket.on('connect', () => socket.write(`${JSON.stringify(request)}\n`));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new Error(`the agent answered something that is not JSON: ${text.slice(0, 200)}`));
      }
    });
  });
}

/** Runs the command with `args` (after the command name); resolves with the exit status. */
export async function runKeepAwakeCli(args: readonly string[]): Promise<number> {
  let values: { for?: string; release?: boolean; socket?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        for: { type: 'string' },
        release: { type: 'boolean' },
        // Another socket than the agent's: for tests running the agent on a host.
        socket: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`hob-keep-awake: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if ((values.for === undefined) === (values.release !== true)) {
    process.stderr.write(`hob-keep-awake: give either --for DURATION or --release\n${USAGE}`);
    return 2;
  }
  let request: KeepAwakeLocalRequest;
  if (values.for !== undefined) {
    const seconds = parseDuration(values.for);
    if (seconds === undefined || seconds < 1 || seconds > MAX_KEEP_AWAKE_SECONDS) {
      process.stderr.write(`hob-keep-awake: --for takes a duration from 1s to 7d, such as 90s, 10m or 2h (not "${values.for}")\n`);
      return 2;
    }
    request = { action: 'hold', seconds };
  } else {
    request = { action: 'release' };
  }
  let reply;
  try {
    reply = KeepAwakeLocalReplySchema.parse(await send(values.socket ?? KEEP_AWAKE_SOCKET, request));
  } catch (err) {
    process.stderr.write(`hob-keep-awake: cannot reach the hob agent at ${values.socket ?? KEEP_AWAKE_SOCKET}: ${(err as Error).message}\n`);
    return 1;
  }
  if (!reply.ok) {
    process.stderr.write(`hob-keep-awake: ${reply.error}\n`);
    return 1;
  }
  const what = request.action === 'hold' ? `keeping this sandbox awake for ${values.for}` : 'released the keep-awake hold';
  process.stdout.write(`${what}${reply.delivered ? '' : ' (hobd is not connected: it applies this when it reconnects)'}\n`);
  return 0;
}
