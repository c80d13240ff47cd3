/**
 * Plain HTTP/1.1 responses written straight to a socket: how an upgrade
 * request that is refused before any handshake is answered (the node server
 * hands upgrade requests over as raw sockets).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** Writes a JSON response with `Connection: close` and ends the socket. Does nothing on a closed socket. */
export function writeRawJson(socket: Duplex, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  if (socket.destroyed || !socket.writable) return;
  const json = JSON.stringify(body);
  const lines = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(json)}`,
    'Cache-Control: no-store',
    'Connection: close',
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  socket.end(`${lines.join('\r\n')}\r\n\r\n${json}`);
}
