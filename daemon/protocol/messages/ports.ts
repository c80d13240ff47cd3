/** The guest's TCP ports: a tunnel to one (`tunnel`) and the stream of ports opening and closing (`ports.watch`). */
import * as z from 'zod';

export const TunnelRequestSchema = z.object({
  op: z.literal('tunnel'),
  port: z.number().int().min(1).max(65535),
  /** Address to dial inside the guest; default 127.0.0.1. */
  host: z.string().max(255).default('127.0.0.1'),
});

export const PortsWatchRequestSchema = z.object({ op: z.literal('ports.watch') });

export const PortInfoSchema = z.object({
  port: z.number().int().min(1).max(65535),
  /** Listening address as the guest kernel reports it: "0.0.0.0", "127.0.0.1", "::", ... */
  address: z.string().max(64),
  family: z.enum(['ipv4', 'ipv6']),
});
export type PortInfo = z.infer<typeof PortInfoSchema>;
