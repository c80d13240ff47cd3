/**
 * Runs hob's SandboxNetwork the way hobd does, but inside the test's "host" namespace,
 * and exposes it (plus a stand-in for hobd's API listener and positive-control probes
 * from the host) over RPC.
 *
 * argv[2]: JSON SandboxNetworkOptions (without log).
 */
import net from 'node:net';
import { SandboxNetwork, type NetworkPolicy, type SandboxNetworkOptions } from '../../../daemon/net/index.js';
import { httpGet, tcpConnect } from './probe.js';
import { serve } from './rpc.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as SandboxNetworkOptions;
const logs: string[] = [];
const network = await SandboxNetwork.open({ ...opts, log: (m) => logs.push(m) });
const servers: net.Server[] = [];

serve({
  setup: (a: { id: string; slot: number; policy?: NetworkPolicy }) => network.setup(a.id, a.slot, a.policy),
  teardown: (a: { id: string }) => network.teardown(a.id),
  setPolicy: (a: { id: string; policy: NetworkPolicy }) => network.setPolicy(a.id, a.policy),
  reconcile: (a: { keep: string[] }) => network.reconcile(a.keep),
  activeIds: () => network.activeIds(),
  close: () => network.close(),
  logs: () => logs,
  /** A TCP listener on 0.0.0.0:port, standing in for hobd's API and dashboard. */
  listen: async (a: { port: number }) => {
    const s = net.createServer((c) => {
      c.on('error', () => undefined);
      c.end('host\n');
    });
    await new Promise<void>((r) => s.listen(a.port, '0.0.0.0', () => r()));
    servers.push(s);
  },
  connect: (a: { host: string; port: number }) => tcpConnect(a.host, a.port),
  http: (a: { url: string }) => httpGet(a.url),
});
