/**
 * The HELLO exchange that opens an agent connection (channel 0): the host
 * offers a range of protocol versions, the agent picks one and says what it
 * can do.
 */
import * as z from 'zod';

/** Protocol versions this build speaks. The agent picks the highest common one. */
export const PROTOCOL_VERSION_MIN = 1;
export const PROTOCOL_VERSION_MAX = 1;

export const HostHelloSchema = z.object({
  role: z.literal('host'),
  minVersion: z.number().int().positive(),
  maxVersion: z.number().int().positive(),
  /**
   * Random token of this handshake attempt, echoed by the agent (since agent 0.1). Lets the
   * host tell the answer to its own HELLO from a stale answer still queued in a
   * virtio-serial buffer from an earlier connection.
   */
  nonce: z.string().max(100).optional(),
});
export type HostHello = z.infer<typeof HostHelloSchema>;

export const AgentHelloSchema = z.object({
  role: z.literal('agent'),
  /** Version chosen by the agent, or null when there is no common version. */
  version: z.number().int().positive().nullable(),
  /** The agent's own release, for logs and `hob info`. */
  agentVersion: z.string().max(100),
  /** Operations and features this agent supports, e.g. "exec", "fs.write", "tunnel". */
  capabilities: z.array(z.string().max(100)).max(200),
  /** Random id chosen at each agent start: changes when the guest rebooted. */
  bootId: z.string().max(100),
  /** Set when version is null. */
  error: z.string().max(1000).optional(),
  /** The HostHello's nonce, echoed; absent from agents that predate it. */
  nonce: z.string().max(100).optional(),
});
export type AgentHello = z.infer<typeof AgentHelloSchema>;
