/** The host end of the guest-agent protocol. */
export { AgentClient, CAPABILITY_EXEC_TTY, type AgentClientEvents, type ConnectOptions, type ExecOptions, type RunResult } from './client.js';
export { IncompatibleAgentError, UnsupportedByAgentError } from './errors.js';
export { ExecProcess, type ExecStatus } from './exec.js';
export type { FileReader, WriteFileOptions, WriteSource } from './file-transfer.js';
export { GuestApiChannel, jsonError, type GuestApiChannelEvents, type GuestApiHandler, type GuestApiRequest, type GuestApiResponse } from './guest-api.js';
export type { AgreedHello, HandshakeOptions } from './handshake.js';
export { KeepAwakeWatcher, type KeepAwakeWatcherEvents } from './keep-awake.js';
export { PortWatcher, type PortWatcherEvents } from './ports.js';
export { TunnelStream } from './tunnel.js';
export { waitForAgent, type WaitOptions } from './wait.js';
