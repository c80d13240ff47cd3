/**
 * The agent logs concise lines to stderr, which inside the guest is the serial
 * console (never the root filesystem, which may be frozen).
 */
export function log(message: string): void {
  process.stderr.write(`hob-agent: ${message}\n`);
}
