/**
 * `hob proxy NAME PORT|LOCAL:REMOTE ...`: forwards TCP ports of this machine
 * (listening on 127.0.0.1 only) to ports inside a sandbox, through hobd and the
 * guest agent's tunnels (it works with the guest's networking off). Each local
 * connection is one `WSS .../proxy` connection. Runs until interrupted
 * (Ctrl+C, SIGTERM); a connection that fails is reported on stderr and the
 * forwarding goes on.
 *
 *   hob proxy dev 5432              127.0.0.1:5432 -> dev's localhost:5432
 *   hob proxy dev 8000:3000 9229    127.0.0.1:8000 -> 3000, 127.0.0.1:9229 -> 9229
 *   hob proxy dev 0:8080            a free local port (printed) -> 8080
 *   hob proxy dev -W localhost:22   stdin/stdout <-> dev's localhost:22, e.g.
 *     ssh -o ProxyCommand='hob proxy dev -W localhost:22' root@dev
 *
 * Output: a `forwarding 127.0.0.1:L -> NAME:R` line per port on stdout once all
 * listen; with --json one object `{sandbox, forwards: [{local_address, local_port,
 * remote_host, remote_port}]}`. `-W` prints nothing but the relayed bytes.
 *
 * Exit codes: 0 when interrupted (or, with -W, when the connection ended
 * normally); 1 when a port cannot be listened on, the sandbox does not exist,
 * or the -W connection fails; 2 for a bad command line; 3 when hobd is unreachable.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { Command } from 'commander';
import { relay } from '../../websocket/relay.js';
import { addCommonOptions, clientFor, sandboxPath, wantsJson, type CliContext, type CliIo } from '../context.js';
import type { HobClient } from '../client.js';
import { CliError, UsageError, describeFailure, formatFailureLine } from '../errors.js';
import { printJson } from '../output.js';
import { openProxyConnection, type ProxyTarget } from '../proxy-connection.js';
import { SandboxObject } from '../sandbox-schemas.js';
import { checkSandboxName } from '../units.js';

/** The guest host a port forward connects to. */
export const DEFAULT_REMOTE_HOST = 'localhost';
const LOCAL_ADDRESS = '127.0.0.1';

export interface PortForward {
  /** 0: any free port. */
  readonly localPort: number;
  readonly remotePort: number;
}

function portNumber(text: string, what: string, allowZero: boolean): number {
  if (!/^\d{1,5}$/.test(text)) throw new UsageError(`${what} "${text}" is not a port number`);
  const n = Number(text);
  if (n > 65535 || (n === 0 && !allowZero)) throw new UsageError(`${what} ${n} is out of range (1-65535${allowZero ? ', or 0 for any free port' : ''})`);
  return n;
}

/** `PORT` or `LOCAL:REMOTE` (LOCAL 0 = any free port). @throws UsageError */
export function parseForward(spec: string): PortForward {
  const m = /^(\d+)(?::(\d+))?$/.exec(spec.trim());
  if (!m) throw new UsageError(`"${spec}" is not a port forward: give PORT or LOCAL:REMOTE, e.g. 5432 or 8000:3000`);
  if (m[2] === undefined) {
    const port = portNumber(m[1]!, 'port', false);
    return { localPort: port, remotePort: port };
  }
  return { localPort: portNumber(m[1]!, 'local port', true), remotePort: portNumber(m[2], 'remote port', false) };
}

/** `-W` target: `host:port`, `[v6]:port`, or a bare port (localhost). @throws UsageError */
export function parseStdioTarget(text: string): ProxyTarget {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return { host: DEFAULT_REMOTE_HOST, port: portNumber(trimmed, '-W port', false) };
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d+)$/.exec(trimmed);
  if (!m) throw new UsageError(`-W takes HOST:PORT (e.g. localhost:22), got "${text}"`);
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port: portNumber(m[2]!, '-W port', false) };
}

interface ProxyOptions {
  readonly W?: string;
}

export function registerProxyCommand(program: Command, ctx: CliContext): void {
  addCommonOptions(
    program
      .command('proxy')
      .description('forward local TCP ports to ports in a sandbox: hob proxy NAME PORT|LOCAL:REMOTE ...')
      .argument('<name>', 'sandbox')
      .argument('[ports...]', 'PORT (same port on both sides) or LOCAL:REMOTE; LOCAL 0 picks a free port')
      .option('-W <host:port>', 'relay stdin/stdout to HOST:PORT in the sandbox instead (for ssh ProxyCommand)'),
  ).action(async (given: string, specs: string[], o: ProxyOptions, cmd: Command) => {
    const name = checkSandboxName(given);
    const client = clientFor(cmd, ctx);
    if (o.W !== undefined) {
      if (specs.length > 0) throw new UsageError('-W relays stdin/stdout: give no ports with it');
      await relayStdio(client, name, parseStdioTarget(o.W), ctx.io);
      return;
    }
    if (specs.length === 0) throw new UsageError('no port given: hob proxy NAME PORT|LOCAL:REMOTE ... (or -W HOST:PORT)');
    const forwards = specs.map(parseForward);
    // Fail early, and clearly, for a sandbox that does not exist.
    await client.json('GET', sandboxPath(name), SandboxObject);
    await forwardPorts(client, name, forwards, ctx.io, wantsJson(cmd));
  });
}

/** Listens on every forward, then serves connections until a signal; resolves once everything is closed. */
async function forwardPorts(client: HobClient, name: string, forwards: readonly PortForward[], io: CliIo, json: boolean): Promise<void> {
  const servers: Server[] = [];
  const connections = new Set<Socket>();
  const closeAll = (): Promise<void> => {
    for (const socket of connections) socket.destroy();
    return Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())))).then(() => undefined);
  };

  const listening: Array<{ local_address: string; local_port: number; remote_host: string; remote_port: number }> = [];
  try {
    for (const forward of forwards) {
      const target: ProxyTarget = { host: DEFAULT_REMOTE_HOST, port: forward.remotePort };
      const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => {
        connections.add(socket);
        socket.once('close', () => connections.delete(socket));
        serveConnection(client, name, target, socket, io);
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(forward.localPort, LOCAL_ADDRESS, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address();
      const localPort = typeof address === 'object' && address ? address.port : forward.localPort;
      listening.push({ local_address: LOCAL_ADDRESS, local_port: localPort, remote_host: target.host, remote_port: target.port });
    }
  } catch (err) {
    await closeAll();
    const e = err as NodeJS.ErrnoException;
    const port = forwards[servers.length - 1]?.localPort;
    throw new CliError(e.code === 'EADDRINUSE' ? `cannot listen on ${LOCAL_ADDRESS}:${port}: the port is in use` : `cannot listen on ${LOCAL_ADDRESS}:${port}: ${e.message}`);
  }

  if (json) printJson(io.stdout, { sandbox: name, forwards: listening });
  else for (const l of listening) io.stdout.write(`forwarding ${l.local_address}:${l.local_port} -> ${name}:${l.remote_port}\n`);
  if (!json && io.stderr.isTTY) io.stderr.write('Ctrl+C stops forwarding\n');

  await new Promise<void>((resolve) => {
    const off = io.onSignal(['SIGINT', 'SIGTERM', 'SIGHUP'], () => {
      off();
      resolve();
    });
  });
  await closeAll();
}

/** One local connection: the proxy websocket, then the relay; failures are reported and the socket dropped. */
function serveConnection(client: HobClient, name: string, target: ProxyTarget, socket: Socket, io: CliIo): void {
  socket.on('error', () => undefined);
  openProxyConnection(client, name, target).then(
    (conn) => {
      if (socket.destroyed) {
        conn.ws.close(1000);
        return;
      }
      relay(conn.ws, socket, { halfClose: conn.halfClose, pending: conn.takePending() });
      socket.resume();
    },
    (err: unknown) => {
      io.stderr.write(formatFailureLine(`${name}:${target.port}: ${describeFailure(err).message}`));
      socket.destroy();
    },
  );
}

/** `-W`: one connection between stdin/stdout and the target; resolves when it is over. */
async function relayStdio(client: HobClient, name: string, target: ProxyTarget, io: CliIo): Promise<void> {
  const conn = await openProxyConnection(client, name, target);
  const { stdin, stdout } = io;
  // stdin and stdout as one stream; ending it does not close our stdout (it is the process's).
  const stream = new Duplex({
    allowHalfOpen: true,
    read() {
      stdin.resume();
    },
    write(chunk: Buffer, _encoding, callback) {
      if (stdout.write(chunk)) callback();
      else stdout.once('drain', () => callback());
    },
    final(callback) {
      callback();
    },
  });
  stdin.on('data', (chunk: Buffer | string) => {
    if (!stream.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) stdin.pause();
  });
  stdin.once('end', () => stream.push(null));
  stdin.once('error', (err) => stream.destroy(err));

  const failure = await new Promise<Error | undefined>((resolve) => {
    const off = io.onSignal(['SIGINT', 'SIGTERM', 'SIGHUP'], () => conn.ws.terminate());
    relay(conn.ws, stream, {
      halfClose: conn.halfClose,
      pending: conn.takePending(),
      onDone: (error) => {
        off();
        resolve(error);
      },
    });
    // The remote side ending everything (both ways) also ends the local one.
    conn.ws.once('close', () => {
      if (stream.writableFinished) stream.destroy();
      else stream.once('finish', () => stream.destroy());
    });
  });
  stdin.pause();
  await new Promise<void>((resolve) => stdout.write('', () => resolve()));
  if (failure) throw new CliError(`${name}:${target.port}: the connection failed: ${failure.message}`);
}
