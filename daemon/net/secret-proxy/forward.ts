/**
 * Forwarding the requests of a terminated guest connection to the real host
 * (docs/architecture.md §11): substitution where allowed, verified TLS to the
 * DNS-pinned address, responses streamed back as they arrive. Bodies are
 * buffered only when they must be rewritten (JSON or form) and only up to
 * `maxBodyBytes`; a larger one gets 413 and nothing of it is forwarded, so
 * the upstream never sees a partially substituted body.
 */
import { request as httpsRequest, Agent } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { hostMatches } from '../../secrets/validate.js';
import type { ActiveSecret } from '../../secrets/store.js';
import { Substituter } from './substitute.js';
import type { Destination, SecretAuditEvent, SecretProxyLimits } from './types.js';

/** What the connection tells every request on it. */
export interface ConnContext {
  /** TLS server name (lowercase). */
  sni: string;
  /** The DNS-pinned destination of the connection. */
  destination: Destination;
}

export interface ForwarderDeps {
  sandboxId: string;
  secrets: () => readonly ActiveSecret[];
  upstreamCa: string | readonly string[] | undefined;
  audit: (e: SecretAuditEvent) => void;
  limits: SecretProxyLimits;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect']);

type BodyKind = 'json' | 'form' | undefined;

function bodyKind(req: IncomingMessage): BodyKind {
  const enc = req.headers['content-encoding'];
  if (enc !== undefined && enc.toLowerCase() !== 'identity') return undefined;
  const ct = (req.headers['content-type'] ?? '').toLowerCase();
  if (/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/.test(ct)) return 'json';
  if (/^application\/x-www-form-urlencoded\s*(;|$)/.test(ct)) return 'form';
  return undefined;
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
}

/** Pairs of a raw header list without hop-by-hop headers (and those the Connection header names). */
function endToEnd(raw: readonly string[], keep: ReadonlySet<string> = new Set()): [string, string][] {
  const named = new Set<string>();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === 'connection') for (const t of (raw[i + 1] ?? '').split(',')) named.add(t.trim().toLowerCase());
  }
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = raw[i] ?? '';
    const lk = k.toLowerCase();
    if (!keep.has(lk) && (HOP_BY_HOP.has(lk) || named.has(lk))) continue;
    out.push([k, raw[i + 1] ?? '']);
  }
  return out;
}

export class Forwarder {
  private bufferedBytes = 0;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64, maxFreeSockets: 8, timeout: 60_000 });

  constructor(private readonly deps: ForwarderDeps) {}

  /** Closes pooled upstream connections. */
  close(): void {
    this.agent.destroy();
  }

  /** Which secrets may go into this request, and the substituter for it. */
  private plan(req: IncomingMessage, ctx: ConnContext): { sub: Substituter; hostHeader: string } {
    const all = this.deps.secrets();
    const hostHeader = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    // docs/architecture.md §11: server name, Host header and pinned destination must agree.
    const allowed = hostHeader === ctx.sni ? all.filter((s) => hostMatches(s.hosts, ctx.sni)) : [];
    return { sub: new Substituter(allowed, all), hostHeader };
  }

  private auditAll(sub: Substituter, req: IncomingMessage, ctx: ConnContext, hostHeader: string, status: number | null): void {
    const base = {
      sandboxId: this.deps.sandboxId, host: ctx.sni, method: req.method ?? '',
      path: (req.url ?? '').split('?')[0] ?? '', status,
      ...(hostHeader !== ctx.sni ? { hostHeader: hostHeader.slice(0, 255) } : {}),
    };
    const emit = (e: SecretAuditEvent) => { try { this.deps.audit(e); } catch { /* the log's problem, not the request's */ } };
    for (const secret of sub.used) emit({ type: 'secret.substituted', secret, ...base });
    for (const secret of sub.misdirected) emit({ type: 'secret.misdirected', secret, ...base });
  }

  private tlsOptions(ctx: ConnContext): { host: string; port: number; servername: string; ca?: string | string[] } {
    const ca = this.deps.upstreamCa;
    return { host: ctx.destination.address, port: ctx.destination.port, servername: ctx.sni, ...(ca !== undefined ? { ca: typeof ca === 'string' ? ca : [...ca] } : {}) };
  }

  /** One HTTP request of the guest. */
  handleRequest(req: IncomingMessage, res: ServerResponse, ctx: ConnContext): void {
    req.on('error', () => res.destroy());
    res.on('error', () => req.destroy());
    let plan: ReturnType<Forwarder['plan']>;
    try {
      plan = this.plan(req, ctx);
    } catch {
      return this.refuse(req, res, 502, 'hob: the secrets of this sandbox cannot be read');
    }
    const { sub, hostHeader } = plan;
    const target = sub.target(req.url ?? '/');
    const headers = endToEnd(req.rawHeaders).map(([k, v]) => [k, sub.header(k, v)] as [string, string]);
    const kind = hasBody(req) ? bodyKind(req) : undefined;
    if (kind === undefined) {
      this.send(req, res, ctx, sub, hostHeader, target, headers, req);
      return;
    }
    const declared = Number(req.headers['content-length'] ?? '0');
    if (declared > this.deps.limits.maxBodyBytes) return this.refuse(req, res, 413, `hob: a ${kind} body larger than ${this.deps.limits.maxBodyBytes} bytes cannot be checked for secrets`);
    const chunks: Buffer[] = [];
    let size = 0;
    let reserved = 0;
    const release = () => { this.bufferedBytes -= reserved; reserved = 0; };
    res.on('close', release);
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > this.deps.limits.maxBodyBytes) return fail(413, `hob: a ${kind} body larger than ${this.deps.limits.maxBodyBytes} bytes cannot be checked for secrets`);
      if (this.bufferedBytes + c.length > this.deps.limits.maxBufferedBytes) return fail(503, 'hob: too many request bodies are being checked for secrets; retry');
      this.bufferedBytes += c.length;
      reserved += c.length;
      chunks.push(c);
    };
    const fail = (status: number, message: string) => {
      req.off('data', onData);
      chunks.length = 0;
      release();
      this.refuse(req, res, status, message);
    };
    req.on('data', onData);
    req.once('end', () => {
      if (res.headersSent || res.writableEnded) return;
      const text = Buffer.concat(chunks).toString('latin1');
      chunks.length = 0;
      const body = Buffer.from(kind === 'json' ? sub.json(text) : sub.formEncoded(text), 'latin1');
      const withLength = headers.filter(([k]) => k.toLowerCase() !== 'content-length');
      withLength.push(['Content-Length', String(body.length)]);
      this.send(req, res, ctx, sub, hostHeader, target, withLength, body);
    });
  }

  /** Answers the guest without contacting the upstream, and closes the connection (the rest of the body is not read). */
  private refuse(req: IncomingMessage, res: ServerResponse, status: number, message: string): void {
    req.pause();
    if (!res.headersSent) {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close', ...(status === 503 ? { 'Retry-After': '1' } : {}) });
      res.end(`${message}\n`, () => { setTimeout(() => req.socket.destroy(), 1000).unref(); });
    } else {
      res.destroy();
    }
  }

  private send(req: IncomingMessage, res: ServerResponse, ctx: ConnContext, sub: Substituter, hostHeader: string, target: string, headers: [string, string][], body: Buffer | IncomingMessage): void {
    const up = httpsRequest({
      ...this.tlsOptions(ctx), agent: this.agent, method: req.method ?? 'GET', path: target,
      headers: headers.flat(), setHost: false,
    });
    let audited = false;
    const audit = (status: number | null) => { if (!audited) { audited = true; this.auditAll(sub, req, ctx, hostHeader, status); } };
    up.on('error', (err) => {
      audit(null);
      if (!res.headersSent) {
        res.writeHead(502, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
        res.end(`hob: upstream ${ctx.sni} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}\n`);
      } else {
        res.destroy();
      }
    });
    up.on('response', (ur) => {
      ur.on('error', () => res.destroy());
      audit(ur.statusCode ?? null);
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, endToEnd(ur.rawHeaders).flat());
      res.flushHeaders();
      ur.pipe(res);
    });
    res.on('close', () => { if (!res.writableFinished) up.destroy(); });
    if (Buffer.isBuffer(body)) up.end(body);
    else body.pipe(up);
  }

  /** A websocket (or other) upgrade: substituted request head, then bytes both ways. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ConnContext): void {
    socket.on('error', () => socket.destroy());
    let plan: ReturnType<Forwarder['plan']>;
    try {
      plan = this.plan(req, ctx);
    } catch {
      socket.destroy();
      return;
    }
    const { sub, hostHeader } = plan;
    const target = sub.target(req.url ?? '/');
    const headers = endToEnd(req.rawHeaders, new Set(['connection', 'upgrade'])).map(([k, v]) => `${k}: ${sub.header(k, v)}\r\n`);
    const up: TLSSocket = tlsConnect({ ...this.tlsOptions(ctx), ALPNProtocols: ['http/1.1'] });
    up.on('error', () => socket.destroy());
    up.on('close', () => socket.destroy());
    socket.on('close', () => up.destroy());
    up.setTimeout(this.deps.limits.idleTimeoutMs, () => up.destroy());
    up.once('secureConnect', () => {
      up.write(Buffer.from(`${req.method ?? 'GET'} ${target} HTTP/1.1\r\n${headers.join('')}\r\n`, 'latin1'));
      if (head.length > 0) up.write(head);
      up.once('data', (c: Buffer) => {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(c.subarray(0, 16).toString('latin1'));
        this.auditAll(sub, req, ctx, hostHeader, m ? Number(m[1]) : null);
      });
      up.pipe(socket);
      socket.pipe(up);
    });
  }
}
