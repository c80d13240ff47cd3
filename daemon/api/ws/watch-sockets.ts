/**
 * The SDKs' watch websockets (docs/architecture.md §20):
 *
 * - `WSS .../{name}/ports/watch`: `{"type":"port_list","ports":[...]}` first (the
 *   ports listening now), then `port_opened` / `port_closed` frames as on the
 *   exec websocket (core/port-events.ts, shapes in wire/). The sandbox is held
 *   awake while the socket is open, as a proxy connection holds it.
 * - `WSS .../{name}/fs/watch`: hob cannot watch guest files yet; the socket
 *   answers the subscription with one `{"type":"error","message":...}` frame
 *   (the SDK's FilesystemWatchEvent) and closes, so that the SDK's watcher
 *   yields a clear error instead of a failed handshake.
 */
import type { WebSocket } from 'ws';
import type { GuestConnection } from '../../core/guest.js';
import type { PortEventHub } from '../../core/port-events.js';
import type { PortEventFrame } from '../../wire/exec.js';
import type { FsWatchFrame, PortListFrame } from '../../wire/sprite-ops.js';
import type { ApiLog } from '../context.js';
import type { Accepted } from './exec-socket.js';

export interface PortsWatchDeps {
  readonly name: string;
  readonly agent: GuestConnection;
  /** Ends the sandbox's activity hold. */
  readonly release: () => void;
  readonly ports: PortEventHub;
  /** The sandbox URL when it routes to `urlPort` (the frame's `url`). */
  readonly url: string;
  readonly log: ApiLog;
}

export function servePortsWatchSocket(accepted: Accepted, deps: PortsWatchDeps): void {
  const { ws } = accepted;
  accepted.release(); // the client has nothing to say on this socket
  const queued: PortEventFrame[] = [];
  let listed = false;
  const send = (frame: PortEventFrame | PortListFrame): void => {
    if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame));
  };
  const unsubscribe = deps.ports.subscribe(deps.agent, (event) => {
    const frame: PortEventFrame = {
      type: event.type === 'opened' ? 'port_opened' : 'port_closed',
      port: event.port,
      address: event.address,
      ...(event.urlPort === event.port ? { url: deps.url } : {}),
    };
    if (listed) send(frame);
    else if (queued.length < 1024) queued.push(frame);
  });
  ws.on('error', (err) => deps.log.warn('ports watch websocket error', { sandbox: deps.name, error: err.message }));
  ws.once('close', () => {
    unsubscribe();
    deps.release();
  });
  deps.ports.listening(deps.agent).then((ports) => {
    send({ type: 'port_list', ports: ports.map((p) => ({ type: 'port_opened', port: p.port, address: p.address })) });
    listed = true;
    for (const frame of queued.splice(0)) send(frame);
  }, () => undefined);
}

/** Tells the client that file watching is not available, then closes. */
export function serveFsWatchSocket(ws: WebSocket, reason: string): void {
  const frame: FsWatchFrame = { type: 'error', message: reason };
  ws.on('error', () => undefined);
  ws.send(JSON.stringify(frame));
  ws.close(1000, '');
}
