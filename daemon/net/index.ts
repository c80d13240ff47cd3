/**
 * Sandbox networking, the module's public surface: SandboxNetwork (sandbox-network.ts)
 * is the one object the sandbox manager talks to; addresses and policies are the
 * values it speaks in.
 */
export { NetworkError } from './errors.js';
export * from './addresses.js';
export * from './policy.js';
export { netSpecFor, SandboxNetwork, type SandboxNetConfig, type SandboxNetworkOptions } from './sandbox-network.js';
