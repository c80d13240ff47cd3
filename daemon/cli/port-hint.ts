/**
 * `port_opened` / `port_closed` frames of exec websockets (daemon/api/port-events.ts),
 * and the hint the CLI prints for them on a terminal:
 * `port 3000 opened: hob proxy dev 3000` (or the sandbox URL for its HTTP port).
 */
import { z } from 'zod';

export const PortEventFrame = z.looseObject({
  type: z.enum(['port_opened', 'port_closed']),
  port: z.number().int().min(1).max(65535),
  address: z.string().optional(),
  url: z.string().optional(),
});
export type PortEventFrame = z.infer<typeof PortEventFrame>;

/** The hint line (without line ending). */
export function portHint(sandbox: string, event: PortEventFrame): string {
  if (event.type === 'port_closed') return `port ${event.port} closed`;
  const reach = event.url !== undefined ? `${event.url} or hob proxy ${sandbox} ${event.port}` : `hob proxy ${sandbox} ${event.port}`;
  return `port ${event.port} opened: ${reach}`;
}
