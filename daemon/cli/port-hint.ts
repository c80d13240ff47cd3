/**
 * The hint the CLI prints on a terminal for the `port_opened` / `port_closed`
 * frames of exec websockets (daemon/wire/exec.ts):
 * `port 3000 opened: hob proxy dev 3000` (or the sandbox URL for its HTTP port).
 */
import type { PortEventFrame } from '../wire/exec.js';

/** The hint line (without line ending). */
export function portHint(sandbox: string, event: PortEventFrame): string {
  if (event.type === 'port_closed') return `port ${event.port} closed`;
  const reach = event.url !== undefined ? `${event.url} or hob proxy ${sandbox} ${event.port}` : `hob proxy ${sandbox} ${event.port}`;
  return `port ${event.port} opened: ${reach}`;
}
