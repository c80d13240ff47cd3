/**
 * ports.watch: the guest's listening TCP sockets, from /proc/net/tcp and tcp6
 * (polled every POLL_MS). `ready {ports}` carries the current list; `port`
 * messages report each listener that opened or closed after that, until the
 * host closes the channel.
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import type { Channel, PortInfo, RequestOf } from '../../../daemon/protocol/index.js';

export const POLL_MS = 500;
const TCP_LISTEN = '0A';

/** Hex word of /proc/net/tcp* as bytes: the kernel prints each 32-bit word in host byte order. */
function wordBytes(hex: string): number[] {
  const bytes = [0, 2, 4, 6].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return endianness() === 'LE' ? bytes.reverse() : bytes;
}

function formatIpv6(bytes: number[]): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] as number) << 8) | (bytes[i + 1] as number));
  // Compress the longest run of zero groups (RFC 5952).
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i > 1) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Parses the text of /proc/net/tcp or /proc/net/tcp6 into its LISTEN sockets. */
export function parseProcNetTcp(text: string, family: PortInfo['family']): PortInfo[] {
  const ports: PortInfo[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 4 || fields[3] !== TCP_LISTEN) continue;
    const [addrHex, portHex] = (fields[1] as string).split(':');
    if (!addrHex || !portHex) continue;
    const port = parseInt(portHex, 16);
    if (!(port >= 1 && port <= 65535)) continue;
    let address: string;
    if (family === 'ipv4' && addrHex.length === 8) {
      address = wordBytes(addrHex).join('.');
    } else if (family === 'ipv6' && addrHex.length === 32) {
      const bytes: number[] = [];
      for (let w = 0; w < 4; w++) bytes.push(...wordBytes(addrHex.slice(w * 8, w * 8 + 8)));
      address = formatIpv6(bytes);
    } else {
      continue;
    }
    ports.push({ port, address, family });
  }
  return ports;
}

async function readFamily(path: string, family: PortInfo['family']): Promise<PortInfo[]> {
  try {
    return parseProcNetTcp(await readFile(path, 'utf8'), family);
  } catch {
    return []; // no IPv6 in this kernel, or no /proc: nothing listens there
  }
}

export async function listListeners(): Promise<Map<string, PortInfo>> {
  const all = [...(await readFamily('/proc/net/tcp', 'ipv4')), ...(await readFamily('/proc/net/tcp6', 'ipv6'))];
  return new Map(all.map((p) => [`${p.family}|${p.address}|${p.port}`, p]));
}

export async function handlePortsWatch(_req: RequestOf<'ports.watch'>, channel: Channel): Promise<void> {
  let known = await listListeners();
  channel.send({ type: 'ready', value: { ports: [...known.values()] } });
  while (!channel.isClosed) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    if (channel.isClosed) break;
    const now = await listListeners();
    for (const [key, port] of known) if (!now.has(key)) channel.send({ type: 'port', event: 'closed', port });
    for (const [key, port] of now) if (!known.has(key)) channel.send({ type: 'port', event: 'opened', port });
    known = now;
  }
}
