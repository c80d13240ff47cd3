/**
 * Request checks of the TCP listener (docs/architecture.md §9 and §8): Host header
 * (DNS rebinding), Origin (CSRF from web pages, including the sandboxes' own
 * pages at `<name>.localhost`), and the bearer token. Pure functions, so the
 * HTTP middleware and the websocket upgrade handler apply the same rules.
 *
 * The unix socket skips all three: a browser cannot reach it, and filesystem
 * permissions on the socket are its authentication.
 */
import { SandboxNameSchema } from '../core/names.js';

/** Where a request is headed according to its Host header. */
export type HostTarget =
  /** The API (and later the dashboard). */
  | { readonly kind: 'api' }
  /** A sandbox URL, `http://<name>.localhost:<port>/`. */
  | { readonly kind: 'sandbox'; readonly name: string }
  /** Not a name hob answers to: refuse (a DNS-rebinding page would arrive with its own host name). */
  | { readonly kind: 'reject' };

/** Host names, besides the loopback names, that the operator allowed (e.g. a tailnet name); lower case, without port. */
export interface HostPolicy {
  /** The TCP port hob listens on; the Host header must carry it. */
  readonly port: number;
  readonly extraHosts?: readonly string[];
}

const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];

/**
 * Splits a Host header into host name and port. Returns undefined when it is
 * not of the form `name:port` / `[v6]:port` / `name`.
 */
export function splitHostHeader(host: string): { hostname: string; port: number | undefined } | undefined {
  const m = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  if (!m || m[1] === undefined) return undefined;
  const port = m[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return undefined;
  return { hostname: m[1].toLowerCase(), port };
}

/**
 * Classifies the Host header of a TCP request. The port must be hob's port
 * (a browser always sends it for a non-default port; a missing or different
 * port means the name resolved to us by some other route).
 */
export function classifyHost(host: string | undefined, policy: HostPolicy): HostTarget {
  if (host === undefined) return { kind: 'reject' };
  const parsed = splitHostHeader(host);
  if (!parsed || parsed.port !== policy.port) return { kind: 'reject' };
  const { hostname } = parsed;
  if (LOOPBACK_HOSTS.includes(hostname) || (policy.extraHosts ?? []).includes(hostname)) return { kind: 'api' };
  if (hostname.endsWith('.localhost')) {
    const label = hostname.slice(0, -'.localhost'.length);
    if (SandboxNameSchema.safeParse(label).success) return { kind: 'sandbox', name: label };
  }
  return { kind: 'reject' };
}

/** Methods that change state: a cross-origin browser request with one of these is refused. */
export function isStateChanging(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

/**
 * Whether a request with this Origin header may proceed. Requests without an
 * Origin (curl, SDKs, the CLI) pass; so do safe methods (GET/HEAD/OPTIONS)
 * unless they upgrade to a websocket (a websocket is not protected by CORS:
 * the browser connects from any page). Otherwise the origin must be the API's
 * own, `http://localhost:<port>` / `http://127.0.0.1:<port>` / `http://[::1]:<port>`
 * (the dashboard). A sandbox's pages (`http://<name>.localhost:<port>`) share
 * the port but are untrusted code, so they are cross-origin here.
 */
export function originAllowed(origin: string | undefined, method: string, isUpgrade: boolean, policy: HostPolicy): boolean {
  if (origin === undefined) return true;
  if (!isUpgrade && !isStateChanging(method)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // includes the literal "null" origin of sandboxed frames and file: pages
  }
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.username !== '' || url.password !== '') return false;
  const port = url.port === '' ? 80 : Number(url.port);
  if (port !== policy.port) return false;
  const hostname = url.hostname.toLowerCase();
  return LOOPBACK_HOSTS.includes(hostname) || (policy.extraHosts ?? []).includes(hostname);
}

/** The token of an `Authorization: Bearer <token>` header, or undefined when the header is absent or of another scheme. */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const m = /^Bearer[ ]+([\x21-\x7e]+)[ ]*$/i.exec(authorization);
  return m?.[1];
}
