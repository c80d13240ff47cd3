/**
 * A guest agent played by the test: the real protocol (Mux, HELLO, channels)
 * on a real unix socket pair, with a real AgentClient on the host end, and
 * the test deciding what the "agent" answers. For hostile-guest tests: floods
 * and malformed-but-valid traffic a real agent would never send.
 */
import { AgentClient } from '../../daemon/agent/index.js';
import { Mux, PROTOCOL_VERSION_MAX, type Channel } from '../../daemon/protocol/index.js';
import { unixSocketPair } from './socket-pair.js';

/** A request the host sent, unvalidated (the test knows what it expects). */
export interface ScriptedRequest {
  readonly op: string;
  readonly [field: string]: unknown;
}

export type RequestHandler = (channel: Channel, request: ScriptedRequest) => void;

export interface ScriptedAgent {
  /** The host's client, connected to the scripted agent. */
  readonly client: AgentClient;
  /** How many requests of each op the host sent. */
  readonly requests: Map<string, number>;
  dispose(): void;
}

export async function startScriptedAgent(capabilities: readonly string[], handle: RequestHandler): Promise<ScriptedAgent> {
  const { a, b, dispose } = await unixSocketPair();
  const agentMux = new Mux(b);
  const requests = new Map<string, number>();
  agentMux.on('hello', (payload) => {
    const nonce = (payload as { nonce?: unknown }).nonce;
    agentMux.sendHello({
      role: 'agent',
      version: PROTOCOL_VERSION_MAX,
      agentVersion: 'scripted-test-agent',
      capabilities: [...capabilities],
      bootId: 'scripted',
      ...(typeof nonce === 'string' ? { nonce } : {}),
    });
  });
  agentMux.on('channel', (channel, first) => {
    if (first.type !== 'request') return;
    const request = first.request as ScriptedRequest;
    requests.set(request.op, (requests.get(request.op) ?? 0) + 1);
    handle(channel, request);
  });
  agentMux.on('protocolError', () => undefined);
  const client = await AgentClient.connect(a);
  return {
    client,
    requests,
    dispose: () => {
      client.close();
      dispose();
    },
  };
}
