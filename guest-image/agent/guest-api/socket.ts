/**
 * The API inside the guest: HTTP on the unix socket /.sprite/api.sock, as in
 * Sprites (`curl --unix-socket /.sprite/api.sock http://sprite/v1/...`).
 * Each request is relayed to hobd (handlers/guest-api.ts), which answers for
 * this sandbox only (docs/architecture.md §14).
 *
 * Mode 0666, like Sprites' socket and hob's keep-awake socket: the sandbox
 * is one trust domain (the default user has sudo), and every process in it
 * may checkpoint, restore or keep awake its own sandbox.
 *
 * Bounds (the agent is the guest's, but it need not make hobd refuse what it
 * can refuse first): request heads of 16 KiB, bodies of
 * MAX_GUEST_API_REQUEST_BODY (413), paths of MAX_GUEST_API_PATH (414), 30 s to
 * send a request, MAX_GUEST_API_IN_FLIGHT requests at once (429).
 */
import { chmod, lstat, mkdir, unlink } from 'node:fs/promises';
import http from 'node:http';
import { dirname } from 'node:path';
import {
  GuestApiMethodSchema,
  MAX_GUEST_API_IN_FLIGHT,
  MAX_GUEST_API_PATH,
  MAX_GUEST_API_REQUEST_BODY,
} from '../../../daemon/protocol/index.js';
import { relay, type RelayAnswer } from '../handlers/guest-api.js';

/** Where the agent serves the API in the guest. */
export const GUEST_API_SOCKET = '/.sprite/api.sock';

const REQUEST_TIMEOUT_MS = 30_000;

function reply(res: http.ServerResponse, answer: RelayAnswer): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(answer.status, { 'content-type': answer.contentType, 'content-length': Buffer.byteLength(answer.body) });
  res.end(answer.body);
}

const error = (status: number, code: string, message: string): RelayAnswer => ({ status, contentType: 'application/json', body: `${JSON.stringify({ error: code, message })}\n` });

let inFlight = 0;

function onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
  req.on('error', () => undefined);
  res.on('error', () => undefined);
  const method = GuestApiMethodSchema.safeParse(req.method);
  const path = req.url ?? '/';
  if (!method.success) return reply(res, error(405, 'method_not_allowed', `${String(req.method).slice(0, 16)} is not served here`));
  if (path.length > MAX_GUEST_API_PATH || !path.startsWith('/')) return reply(res, error(414, 'uri_too_long', `a path of at most ${MAX_GUEST_API_PATH} characters, starting with /`));
  if (inFlight >= MAX_GUEST_API_IN_FLIGHT) return reply(res, error(429, 'too_many_requests', `at most ${MAX_GUEST_API_IN_FLIGHT} requests at once`));
  inFlight++;
  let done = false;
  const finish = (answer: RelayAnswer): void => {
    if (done) return;
    done = true;
    inFlight--;
    reply(res, answer);
  };
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (done) return; // the rest of a body too large is read and dropped (requestTimeout bounds it)
    size += chunk.length;
    if (size > MAX_GUEST_API_REQUEST_BODY) {
      chunks.length = 0;
      finish(error(413, 'payload_too_large', `a request body of at most ${MAX_GUEST_API_REQUEST_BODY} bytes`));
      return;
    }
    chunks.push(chunk);
  });
  req.on('close', () => {
    // The client went away before sending its whole request.
    if (!req.complete) finish(error(400, 'bad_request', 'incomplete request'));
  });
  req.on('end', () => {
    if (done) return;
    void relay(method.data, path, Buffer.concat(chunks).toString('utf8')).then(finish);
  });
}

/** Serves the socket at `path` (replacing a stale socket there) for as long as the agent lives. */
export async function serveGuestApiSocket(path: string = GUEST_API_SOCKET): Promise<http.Server> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  try {
    if ((await lstat(path)).isSocket()) await unlink(path);
  } catch {
    // nothing there
  }
  const server = http.createServer({ maxHeaderSize: 16 * 1024, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS }, onRequest);
  server.on('clientError', (_err, socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o666);
  return server;
}
