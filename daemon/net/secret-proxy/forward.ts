/**
 * Forwarding the requests of a terminated guest connection to the real host
 * (docs/architecture.md §11): substitution where allowed, verified TLS to the
 * DNS-pinned address, responses streamed back as they arrive. Bodies are
 * buffered only when they must be rewritten (JSON or form) and only up to
 * `maxBodyBytes`; a larger one gets 413 and nothing of it is forwarded, so
 * the upstream never sees a partially substituted body.
 */
import { request as httpsRequest, Agent } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Duplex, Readable } from 'node:stream';
import { hostMatches } from '../../secrets/validate.js';
import type { ActiveSecret } from '../../secrets/store.js';
import type { Exchange } from './exchange.js';
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

function bodyKind(req: { headers: IncomingMessage['headers'] }): BodyKind {
  const enc = req.headers['content-encoding'];
  if (enc !== undefined && enc.toLowerCase() !== 'identity') return undefined;
  const ct = (req.headers['content-type'] ?? '').toLowerCase();
  if (/^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/.test(ct)) return 'json';
  if (/^application\/x-www-form-urlencoded\s*(;|$)/.test(ct)) return 'form';
  return undefined;
}

function hasBody(ex: Exchange): boolean {
  // HTTP/2 has no Transfer-Encoding: a request without END_STREAM on its head may have a body.
  return ex.headers['transfer-encoding'] !== undefined || (ex.headers['content-length'] !== undefined && ex.headers['content-length'] !== '0')
    || (ex.headers[':method'] !== undefined && !['GET', 'HEAD', 'OPTIONS'].includes(ex.method));
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
  private plan(host: string, ctx: ConnContext): { sub: Substituter; hostHeader: string } {
    const all = this.deps.secrets();
    const hostHeader = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
    // docs/architecture.md §11: server name, Host header and pinned destination must agree.
    const allowed = hostHeader === ctx.sni ? all.filter((s) => hostMatches(s.hosts, ctx.sni)) : [];
    return { sub: new Substituter(allowed, all), hostHeader };
  }

  private auditAll(sub: Substituter, req: { method?: string | undefined; url?: string | undefined }, ctx: ConnContext, hostHeader: string, status: number | null): void {
    const base = {
      sandboxId: this.deps.sandboxId, host: ctx.sni, method: (req.method ?? '').slice(0, 32),
      path: ((req.url ?? '').split('?')[0] ?? '').slice(0, 2048), status,
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

  /** One HTTP request of the guest (HTTP/1.1 or HTTP/2, see exchange.ts). */
  handleRequest(ex: Exchange, ctx: ConnContext): void {
    let plan: ReturnType<Forwarder['plan']>;
    try {
      plan = this.plan(ex.host, ctx);
    } catch {
      return ex.refuse(502, 'hob: the secrets of this sandbox cannot be read');
    }
    const { sub, hostHeader } = plan;
    const target = sub.target(ex.url);
    const headers = endToEnd(ex.rawHeaders).map(([k, v]) => [k, sub.header(k, v)] as [string, string]);
    const kind = hasBody(ex) ? bodyKind(ex) : undefined;
    if (kind === undefined) {
      this.send(ex, ctx, sub, hostHeader, target, headers, ex.body);
      return;
    }
    const tooLarge = `hob: a ${kind} body larger than ${this.deps.limits.maxBodyBytes} bytes cannot be checked for secrets`;
    if (Number(ex.headers['content-length'] ?? '0') > this.deps.limits.maxBodyBytes) return ex.refuse(413, tooLarge);
    const chunks: Buffer[] = [];
    let size = 0;
    let reserved = 0;
    const release = () => { this.bufferedBytes -= reserved; reserved = 0; };
    ex.onClose(release);
    const fail = (status: number, message: string) => {
      ex.body.off('data', onData);
      chunks.length = 0;
      release();
      ex.refuse(status, message);
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > this.deps.limits.maxBodyBytes) return fail(413, tooLarge);
      if (this.bufferedBytes + c.length > this.deps.limits.maxBufferedBytes) return fail(503, 'hob: too many request bodies are being checked for secrets; retry');
      this.bufferedBytes += c.length;
      reserved += c.length;
      chunks.push(c);
    };
    ex.body.on('data', onData);
    ex.body.once('end', () => {
      if (ex.answered || size > this.deps.limits.maxBodyBytes) return;
      const text = Buffer.concat(chunks).toString('latin1');
      chunks.length = 0;
      const body = Buffer.from(kind === 'json' ? sub.json(text) : sub.formEncoded(text), 'latin1');
      const withLength = headers.filter(([k]) => k.toLowerCase() !== 'content-length');
      withLength.push(['Content-Length', String(body.length)]);
      this.send(ex, ctx, sub, hostHeader, target, withLength, body);
    });
  }

  private send(ex: Exchange, ctx: ConnContext, sub: Substituter, hostHeader: string, target: string, headers: [string, string][], body: Buffer | Readable): void {
    const up = httpsRequest({
      ...this.tlsOptions(ctx), agent: this.agent, method: ex.method, path: target,
      headers: headers.flat(), setHost: false,
    });
    let audited = false;
    const audit = (status: number | null) => { if (!audited) { audited = true; this.auditAll(sub, ex, ctx, hostHeader, status); } };
    up.on('error', (err) => {
      audit(null);
      if (!ex.answered) ex.refuse(502, `hob: upstream ${ctx.sni} failed: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
      else ex.abort();
    });
    up.on('response', (ur) => {
      ur.on('error', () => ex.abort());
      audit(ur.statusCode ?? null);
      ur.pipe(ex.reply(ur.statusCode ?? 502, ur.statusMessage, endToEnd(ur.rawHeaders).flat()));
    });
    ex.onClose((finished) => { if (!finished) up.destroy(); });
    if (Buffer.isBuffer(body)) up.end(body);
    else body.pipe(up);
  }

  /** A websocket (or other) upgrade: substituted request head, then bytes both ways. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: ConnContext): void {
    socket.on('error', () => socket.destroy());
    let plan: ReturnType<Forwarder['plan']>;
    try {
      plan = this.plan(req.headers.host ?? '', ctx);
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
