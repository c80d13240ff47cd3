/**
 * One TCP connection to a port inside a sandbox, over `WSS .../proxy`
 * (daemon/api/ws/proxy-socket.ts): the handshake, then the caller relays the
 * bytes (daemon/websocket/relay.ts). hob's CLI always asks for half-close, so a
 * local client's EOF reaches the guest server as a FIN while its answer still
 * flows back.
 */
import type { RawData, WebSocket } from 'ws';
import * as z from 'zod';
import { toBuffer } from '../websocket/relay.js';
import type { HobClient } from './client.js';
import { sandboxPath } from './context.js';
import { CliError } from './errors.js';

/** Where to connect, as seen from inside the guest. */
export interface ProxyTarget {
  readonly host: string;
  readonly port: number;
}

export interface ProxyConnection {
  readonly ws: WebSocket;
  /** The server agreed to the half-close convention. */
  readonly halfClose: boolean;
  /** `host:port` as the server connected it. */
  readonly target: string;
  /**
   * Stops holding messages and returns those that arrived after the answer.
   * Call it right before attaching the relay, in the same tick, so that none is missed.
   */
  takePending(): RawData[];
}

const Answer = z.union([
  z.looseObject({ status: z.literal('connected'), target: z.string().optional(), half_close: z.boolean().optional() }),
  z.looseObject({ status: z.literal('error'), error: z.string().optional(), message: z.string().optional() }),
]);

/**
 * Opens the websocket and makes the connection. Rejects with ApiError when
 * hobd refuses the upgrade (no such sandbox, cannot wake it), CliError when the
 * guest connection fails (nothing listens: the server's message), ConnectionError
 * when hobd is unreachable.
 */
export async function openProxyConnection(client: HobClient, name: string, target: ProxyTarget): Promise<ProxyConnection> {
  const socket = await client.openWebSocket(sandboxPath(name, '/proxy'));
  const { ws } = socket;
  return new Promise<ProxyConnection>((resolve, reject) => {
    const pending: RawData[] = [];
    let answered = false;
    const onClose = (code: number, reason: Buffer): void => {
      if (!answered) reject(new CliError(`hobd closed the proxy connection (${code}${reason.length > 0 ? `: ${reason.toString('utf8')}` : ''})`));
    };
    ws.once('close', onClose);
    ws.on('error', () => undefined); // 'close' follows
    const onMessage = (data: RawData, isBinary: boolean): void => {
      if (answered) {
        pending.push(data);
        return;
      }
      answered = true;
      let answer: z.infer<typeof Answer> | undefined;
      try {
        const parsed = Answer.safeParse(JSON.parse(toBuffer(data).toString('utf8')));
        if (parsed.success && !isBinary) answer = parsed.data;
      } catch {
        // not JSON: below
      }
      if (!answer) {
        ws.terminate();
        reject(new CliError('hobd answered the proxy request with something unexpected: is the CLI the same version as hobd?'));
        return;
      }
      if (answer.status === 'error') {
        reject(new CliError(answer.message ?? answer.error ?? 'the connection failed'));
        return;
      }
      ws.off('close', onClose);
      resolve({
        ws,
        halfClose: answer.half_close === true,
        target: answer.target ?? `${target.host}:${target.port}`,
        takePending: () => {
          ws.off('message', onMessage);
          return pending.splice(0);
        },
      });
    };
    socket.listen(onMessage);
    ws.send(JSON.stringify({ host: target.host, port: target.port, half_close: true }));
  });
}
