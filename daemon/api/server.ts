/**
 * The API's two listeners (docs/architecture.md §9):
 * - a unix socket, mode 0660, owned by root and group `hob` when that group
 *   exists (else root only, mode 0600): no token, filesystem permissions are
 *   the authentication;
 * - TCP on 127.0.0.1:<port> (loopback only unless configured otherwise):
 *   bearer tokens, Host and Origin checks.
 * A stale socket file left by a crashed hobd is replaced; a socket another
 * live hobd answers on is not (ConflictError).
 */
import { chmodSync, chownSync, lstatSync, readFileSync, unlinkSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { ConflictError, HobError } from '../errors.js';
import type { Api } from './app.js';

export interface ServeOptions {
  /** Path of the unix socket, e.g. /run/hob/hob.sock. Omit to serve TCP only. */
  readonly socketPath?: string;
  /** Group allowed on the socket (default `hob`). */
  readonly socketGroup?: string;
  /** TCP address (default 127.0.0.1). */
  readonly tcpHost?: string;
  /** TCP port; must be the port the Api was created with. Omit to serve the socket only. */
  readonly tcpPort?: number;
}

export interface ApiServers {
  readonly unix: Server | undefined;
  readonly tcp: Server | undefined;
  /** Stops accepting, drops open connections (websockets included), removes the socket file. */
  close(): Promise<void>;
}

export async function serveApi(api: Api, options: ServeOptions): Promise<ApiServers> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const make = (kind: 'unix' | 'tcp'): Server => {
    const server = createServer(api.requestListener(kind));
    server.on('upgrade', api.upgradeListener(kind));
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    servers.push(server);
    return server;
  };

  let unix: Server | undefined;
  let tcp: Server | undefined;
  let socketCreated = false;
  try {
    if (options.socketPath !== undefined) {
      await removeStaleSocket(options.socketPath);
      unix = make('unix');
      await listen(unix, () => unix!.listen(options.socketPath));
      socketCreated = true;
      secureSocket(options.socketPath, options.socketGroup ?? 'hob');
    }
    if (options.tcpPort !== undefined) {
      tcp = make('tcp');
      await listen(tcp, () => tcp!.listen(options.tcpPort, options.tcpHost ?? '127.0.0.1'));
    }
  } catch (err) {
    await closeAll(servers, sockets);
    if (socketCreated && options.socketPath !== undefined) unlinkQuietly(options.socketPath);
    throw err;
  }

  return {
    unix,
    tcp,
    close: async () => {
      api.close();
      await closeAll(servers, sockets);
      if (options.socketPath !== undefined) unlinkQuietly(options.socketPath);
    },
  };
}

/** gid of a group from /etc/group, or undefined when it does not exist. */
export function groupId(name: string, groupFile = '/etc/group'): number | undefined {
  let text: string;
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [group, , gid] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  return undefined;
}

/**
 * Gives the socket its final owner and mode. Until then it has the umask's
 * mode (0755 with the usual 022), which lets nobody but root connect.
 */
function secureSocket(path: string, group: string): void {
  const gid = groupId(group);
  if (gid !== undefined) {
    chownSync(path, 0, gid);
    chmodSync(path, 0o660);
  } else {
    chmodSync(path, 0o600);
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new HobError('internal', `${path} exists and is not a socket; refusing to replace it`);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) throw new ConflictError(`another process is serving ${path} (is hobd already running?)`);
  unlinkSync(path);
}

function listen(server: Server, start: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve();
    });
    start();
  });
}

async function closeAll(servers: Server[], sockets: Set<Socket>): Promise<void> {
  const closing = servers.map((server) => new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve())));
  for (const socket of sockets) socket.destroy();
  await Promise.all(closing);
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // Already gone.
  }
}
