/** The secret proxy (docs/architecture.md §11): per-sandbox CA, TLS interception and substitution. */
export { SecretProxy } from './server.js';
export { SandboxCa, type CaMaterial, type LeafMaterial } from './ca.js';
export { LeafCache, DEFAULT_LEAF_CACHE_SIZE } from './leaf-cache.js';
export { parseClientHello, MAX_CLIENT_HELLO_BYTES, type HelloResult } from './client-hello.js';
export { Substituter, type SecretForRequest } from './substitute.js';
export { DEFAULT_LIMITS, type SecretProxyOptions, type SecretProxyLimits, type SecretAuditEvent, type Destination } from './types.js';
export { loadOrCreateCa, CA_CERT_FILE, CA_KEY_FILE } from './ca-files.js';
