/**
 * The secret proxy of one sandbox (docs/architecture.md §11). It accepts the
 * guest's redirected TLS connections, reads the server name of the
 * ClientHello, and then either
 * - terminates TLS with a leaf of the sandbox's CA and forwards request by
 *   request (forward.ts), when the server name belongs to a granted secret's
 *   hosts and the destination is an address hob's resolver gave the sandbox
 *   for that name, or
 * - passes the bytes through untouched to the destination (the guest sees the
 *   real certificate), or closes the connection if there is none.
 * Every socket has an error listener from the moment it exists, and every
 * stage a bound: connections, ClientHello size and time, head size and time,
 * idle time, buffered bodies, cached leaves.
 */
import { createServer as createH2Server, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { hostMatches } from '../../secrets/validate.js';
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from './client-hello.js';
import { http1Exchange, http2Exchange } from './exchange.js';
import { Forwarder, type ConnContext } from './forward.js';
import { LeafCache } from './leaf-cache.js';
import { DEFAULT_LIMITS, type Destination, type SecretProxyLimits, type SecretProxyOptions } from './types.js';

/** A duplex that yields `head` first, then what `socket` reads; writes go to `socket`. */
function prepend(socket: Socket, head: Buffer): Duplex {
  const d = new Duplex({
    read() { socket.resume(); },
    write(chunk: Buffer, _enc, cb) { socket.write(chunk, (err) => cb(err ?? null)); },
    final(cb) { socket.end(); cb(); },
    destroy(err, cb) { socket.destroy(); cb(err); },
  });
  d.on('error', () => socket.destroy());
  d.push(head);
  socket.on('data', (c: Buffer) => { if (!d.push(c)) socket.pause(); });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  return d;
}

export class SecretProxy {
  readonly limits: SecretProxyLimits;
  private readonly server: NetServer;
  private readonly http: HttpServer;
  private readonly h2: Http2Server;
  /** The connection being handed to the HTTP/2 server: its 'session' event is emitted synchronously and claims it. */
  private handingOver: { conn: TLSSocket; ctx: ConnContext } | undefined;
  private readonly sessions = new WeakMap<object, { conn: TLSSocket; ctx: ConnContext }>();
  private readonly leaves: LeafCache;
  private readonly forwarder: Forwarder;
  private readonly sockets = new Set<Socket>();
  private readonly contexts = new WeakMap<object, ConnContext>();
  private readonly headTimers = new WeakMap<object, NodeJS.Timeout>();

  constructor(private readonly opts: SecretProxyOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.leaves = new LeafCache(opts.ca, this.limits.leafCacheSize);
    this.forwarder = new Forwarder({ sandboxId: opts.sandboxId, secrets: opts.secrets, upstreamCa: opts.upstreamCa, audit: opts.audit, limits: this.limits });
    this.server = createNetServer({ pauseOnConnect: false, noDelay: true }, (s) => this.handleConnection(s));
    this.server.on('error', () => undefined);
    this.http = createHttpServer({ maxHeaderSize: this.limits.maxHeaderBytes, requestTimeout: 0, keepAliveTimeout: 5000 });
    this.http.on('request', (req: IncomingMessage, res: ServerResponse) => this.onRequest(req, res));
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    // HTTP/2 over the TLS the proxy terminated (ALPN h2): bounded session memory, streams and header lists.
    this.h2 = createH2Server({
      maxSessionMemory: 16,
      maxHeaderListPairs: 256,
      settings: { maxConcurrentStreams: 100, maxHeaderListSize: this.limits.maxHeaderBytes, enablePush: false },
    });
    this.h2.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => this.onH2Request(req, res));
    this.h2.on('sessionError', () => undefined);
    this.h2.on('session', (session) => {
      if (this.handingOver) this.sessions.set(session, this.handingOver);
      session.on('error', () => session.destroy());
      session.on('stream', (stream) => stream.on('error', () => stream.destroy()));
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      setTimeout(() => socket.destroy(), 1000).unref();
    });
  }

  /** Listens on `host:port` (port 0: any); resolves with the address. */
  listen(port = 0, host = '127.0.0.1'): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Open guest connections and cached leaves, for tests and metrics. */
  get stats(): { connections: number; leaves: number } {
    return { connections: this.sockets.size, leaves: this.leaves.size };
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.forwarder.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Takes one guest connection (the daemon may accept on its own and hand them here). */
  handleConnection(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    if (this.sockets.size >= this.limits.maxConnections) {
      socket.destroy();
      return;
    }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.setNoDelay(true);
    socket.setTimeout(this.limits.handshakeTimeoutMs, () => socket.destroy());
    let buf = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const r = parseClientHello(buf.subarray(0, MAX_CLIENT_HELLO_BYTES + 5));
      if (r.kind === 'incomplete') return;
      socket.off('data', onData);
      socket.pause();
      if (r.kind === 'invalid') {
        socket.destroy();
        return;
      }
      void this.route(socket, buf, r.serverName).catch(() => socket.destroy());
    };
    socket.on('data', onData);
  }

  /** docs/architecture.md §11: the destination is the redirect's, else the first address pinned for the name. */
  private destination(socket: Socket, sni: string | undefined): { dest: Destination | undefined; pinned: boolean } {
    const pinned = sni ? this.opts.pinnedAddresses(sni) : [];
    const original = this.opts.originalDestination?.(socket);
    if (original) return { dest: original, pinned: pinned.includes(original.address) };
    const first = pinned[0];
    return first !== undefined ? { dest: { address: first, port: this.opts.upstreamPort ?? 443 }, pinned: true } : { dest: undefined, pinned: false };
  }

  private async route(socket: Socket, hello: Buffer, sni: string | undefined): Promise<void> {
    const { dest, pinned } = this.destination(socket, sni);
    if (!dest) {
      socket.destroy();
      return;
    }
    const intercept = sni !== undefined && pinned && this.opts.secrets().some((s) => hostMatches(s.hosts, sni));
    if (!intercept || sni === undefined) {
      this.passThrough(socket, hello, dest);
      return;
    }
    const ctx = await this.leaves.get(sni);
    if (socket.destroyed) return;
    const tls = new TLSSocket(prepend(socket, hello), { isServer: true, secureContext: ctx, ALPNProtocols: ['h2', 'http/1.1'] });
    tls.on('error', () => { tls.destroy(); socket.destroy(); });
    tls.once('secure', () => {
      socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
      this.contexts.set(tls, { sni, destination: dest });
      this.armHeadTimer(tls);
      tls.on('close', () => this.clearHeadTimer(tls));
      // What tls.Server does for the sockets it makes (a TLSSocket made by hand keeps it true,
      // and the HTTP/2 server would wait for a 'secureConnect' that never comes).
      (tls as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
      if (tls.alpnProtocol === 'h2') {
        this.handingOver = { conn: tls, ctx: { sni, destination: dest } };
        try { this.h2.emit('connection', tls); } finally { this.handingOver = undefined; }
      } else {
        this.http.emit('connection', tls);
      }
    });
  }

  /** Bytes both ways, unchanged, to where the guest was going. */
  private passThrough(socket: Socket, hello: Buffer, dest: Destination): void {
    const up = netConnect({ host: dest.address, port: dest.port, noDelay: true });
    up.on('error', () => { up.destroy(); socket.destroy(); });
    up.on('close', () => socket.destroy());
    socket.on('close', () => up.destroy());
    up.setTimeout(this.limits.idleTimeoutMs, () => up.destroy());
    socket.setTimeout(this.limits.idleTimeoutMs, () => socket.destroy());
    up.once('connect', () => {
      up.write(hello);
      socket.pipe(up);
      up.pipe(socket);
      socket.resume();
    });
  }

  /** Slow senders: a connection must deliver a complete request head within headersTimeoutMs of being idle. */
  private armHeadTimer(conn: object & { destroy(): void }): void {
    this.clearHeadTimer(conn);
    const t = setTimeout(() => conn.destroy(), this.limits.headersTimeoutMs);
    t.unref();
    this.headTimers.set(conn, t);
  }

  private clearHeadTimer(conn: object): void {
    const t = this.headTimers.get(conn);
    if (t) clearTimeout(t);
    this.headTimers.delete(conn);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const conn = req.socket;
    const ctx = this.contexts.get(conn);
    if (!ctx) {
      res.destroy();
      return;
    }
    this.clearHeadTimer(conn);
    res.on('finish', () => { if (!conn.destroyed) this.armHeadTimer(conn); });
    this.forwarder.handleRequest(http1Exchange(req, res), ctx);
  }

  /** An HTTP/2 stream: the head timer only guards the first request of the connection; idle time and session memory bound the rest. */
  private onH2Request(req: Http2ServerRequest, res: Http2ServerResponse): void {
    const session = req.stream.session;
    const owner = session ? this.sessions.get(session) : undefined;
    if (!owner) {
      req.stream.destroy();
      return;
    }
    this.clearHeadTimer(owner.conn);
    this.forwarder.handleRequest(http2Exchange(req, res), owner.ctx);
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const ctx = this.contexts.get(socket);
    this.clearHeadTimer(socket);
    if (!ctx) {
      socket.destroy();
      return;
    }
    this.forwarder.handleUpgrade(req, socket, head, ctx);
  }
}
