/**
 * What the secret proxy of one sandbox is given, its limits and its audit
 * records (docs/architecture.md §11).
 */
import type { Socket } from 'node:net';
import type { ActiveSecret } from '../../secrets/store.js';
import type { SandboxCa } from './ca.js';

/** Where the guest meant to connect. */
export interface Destination {
  address: string;
  port: number;
}

/** One audit record: never a value. The daemon turns them into events. */
export interface SecretAuditEvent {
  /** 'secret.substituted': the value went into the request. 'secret.misdirected': a granted secret's placeholder was seen on its way to a host it is not for, and left as it was. */
  type: 'secret.substituted' | 'secret.misdirected';
  sandboxId: string;
  secret: string;
  /** The TLS server name of the connection. */
  host: string;
  /** The Host header, if it differs from `host`. */
  hostHeader?: string;
  method: string;
  /** The request path without its query string (which may hold placeholders). */
  path: string;
  /** The upstream's status, 101 for a websocket, or null if the request got no answer. */
  status: number | null;
}

export interface SecretProxyLimits {
  /** Connections open at once; more are closed at accept. */
  maxConnections: number;
  /**
   * Silence allowed during the ClientHello and the TLS handshake (an idle timer, reset
   * by every byte). Generous because a guest under TCG on a loaded host can spend many
   * seconds on one key exchange step (git's gnutls gave up after a 10 s cut, which it does
   * not retry); a silent guest costs one socket of maxConnections meanwhile.
   */
  handshakeTimeoutMs: number;
  /** Largest request head (Node's maxHeaderSize); bigger gets 431. */
  maxHeaderBytes: number;
  /** Time to receive a complete request head (slow senders are cut off). */
  headersTimeoutMs: number;
  /** A connection with no bytes either way for this long is closed. */
  idleTimeoutMs: number;
  /** Largest JSON or form body that is buffered for substitution; bigger gets 413 and is never forwarded. */
  maxBodyBytes: number;
  /** All bodies buffered at once, across connections; beyond it a request gets 503. */
  maxBufferedBytes: number;
  /** Leaf certificates kept (least recently used out first). */
  leafCacheSize: number;
}

export const DEFAULT_LIMITS: SecretProxyLimits = {
  maxConnections: 512,
  handshakeTimeoutMs: 30_000,
  maxHeaderBytes: 32 * 1024,
  headersTimeoutMs: 20_000,
  idleTimeoutMs: 300_000,
  maxBodyBytes: 16 * 1024 * 1024,
  maxBufferedBytes: 64 * 1024 * 1024,
  leafCacheSize: 256,
};

export interface SecretProxyOptions {
  sandboxId: string;
  ca: SandboxCa;
  /** The sandbox's granted secrets, read at every connection and request (a revoke counts at once). */
  secrets: () => readonly ActiveSecret[];
  /** DNS pinning: the unexpired addresses hob's resolver gave this sandbox for `name` (AddressBook.addressesOf). */
  pinnedAddresses: (name: string) => readonly string[];
  /**
   * The address the guest connected to, where the redirect makes it known
   * (docs/architecture.md §11); without it the proxy connects to the first
   * address pinned for the server name.
   */
  originalDestination?: (socket: Socket) => Destination | undefined;
  /** Port of the real hosts. Default 443. */
  upstreamPort?: number;
  /** CA certificates the real hosts are verified against (PEM). Default: Node's bundled roots. */
  upstreamCa?: string | readonly string[];
  /** Receives the audit records; must not throw (errors are swallowed). */
  audit: (event: SecretAuditEvent) => void;
  limits?: Partial<SecretProxyLimits>;
}
