import { endianness } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseProcNetTcp } from '../../guest-image/agent/handlers/ports.js';

// Lines as a little-endian kernel prints them (x86_64, arm64).
const TCP = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 100 0 0 10 0
   2: 0F02000A:0016 0202000A:C350 01 00000000:00000000 02:0004F1A1 00000000     0        0 3 4 0000000000000000 20 4 29 10 -1
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0CEA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 5 1 0000000000000000 100 0 0 10 0
   2: B80D0120000000000000000001000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 6 1 0000000000000000 100 0 0 10 0
`;

if (endianness() !== 'LE') console.warn('skipping the /proc/net/tcp parser tests: they need a little-endian host (the fixtures hold little-endian addresses)');
describe.skipIf(endianness() !== 'LE')('parseProcNetTcp (little-endian host)', () => {
  it('keeps LISTEN sockets only and decodes IPv4 addresses and ports', () => {
    expect(parseProcNetTcp(TCP, 'ipv4')).toEqual([
      { port: 8080, address: '127.0.0.1', family: 'ipv4' },
      { port: 22, address: '0.0.0.0', family: 'ipv4' },
    ]);
  });

  it('decodes IPv6 addresses in their compressed form', () => {
    expect(parseProcNetTcp(TCP6, 'ipv6')).toEqual([
      { port: 8080, address: '::', family: 'ipv6' },
      { port: 3306, address: '::1', family: 'ipv6' },
      { port: 80, address: '2001:db8::1', family: 'ipv6' },
    ]);
  });

  it('ignores malformed lines', () => {
    expect(parseProcNetTcp('header\n garbage line\n 0: zz:zz 0 0A\n', 'ipv4')).toEqual([]);
  });
});
