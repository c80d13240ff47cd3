/**
 * Runs one hob resolver (SandboxResolver, unrestricted policy) on 127.0.0.1 inside the
 * namespace it is started in, forwarding to the upstream servers given, and asks it over
 * loopback on request. Used to watch the resolver where the host's network is broken
 * (a namespace with no route to the upstream): the process must stay up and answer.
 *
 * argv[2]: JSON {upstream: string[]} ("addr" or "addr:port").
 */
import { compilePolicy } from '../../../daemon/net/policy.js';
import { SandboxResolver } from '../../../daemon/net/resolver.js';
import { parseServer, type UpstreamServer } from '../../../daemon/net/upstream.js';
import { rawDns } from './probe.js';
import { serve } from './rpc.js';

const config = JSON.parse(process.argv[2] ?? '{}') as { upstream: string[] };
const upstream = config.upstream.map((s) => parseServer(s)).filter((s): s is UpstreamServer => s !== undefined);
const logs: string[] = [];
const resolver = await SandboxResolver.start({
  address: '127.0.0.1',
  port: 0,
  upstream: () => upstream,
  policy: () => compilePolicy({ rules: [] }),
  onAnswer: async () => undefined,
  log: (m) => logs.push(m),
});

serve({
  /** One raw query through the resolver: {rcode, addresses} or {ok: false, code}. */
  ask: (a: { name: string; transport: 'udp' | 'tcp' }) => rawDns('127.0.0.1', a.name, a.transport, resolver.port),
  logs: () => logs,
  pid: () => process.pid,
});
