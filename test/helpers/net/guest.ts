/**
 * Stands in for a VM in the network tests: runs inside the fake guest's namespace, whose
 * eth0 is connected frame by frame to the sandbox's tap0 (see net-lab.ts), and probes the
 * network the way a guest program would (DNS server 172.31.255.1, which the guest's init
 * writes to its /etc/resolv.conf).
 */
import { GATEWAY_ADDRESS } from '../../../daemon/net/addresses.js';
import { httpGet, rawDns, resolve4, tcpConnect } from './probe.js';
import { serve } from './rpc.js';

serve({
  resolve: (a: { name: string }) => resolve4(GATEWAY_ADDRESS, a.name),
  dns: (a: { server?: string; name: string; transport: 'udp' | 'tcp' }) => rawDns(a.server ?? GATEWAY_ADDRESS, a.name, a.transport),
  http: (a: { url: string }) => httpGet(a.url, GATEWAY_ADDRESS),
  connect: (a: { host: string; port: number }) => tcpConnect(a.host, a.port),
});
