/**
 * MCP exec round trip vs the API's (issue 14): `exec true` through `hob mcp`
 * (the official SDK's Client over stdio, the server a client of hobd's socket)
 * against the same exec through the JSON HTTP API on the socket, medians of
 * 20, side by side in one run. The difference is the MCP hop: JSON-RPC over a
 * pipe, the SDK's validation, and one more HTTP request from the server.
 */
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { TestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

const REPO = resolve(import.meta.dirname, '..');
const SAMPLES = 20;

export async function benchMcp(d: TestDaemon, record: Record): Promise<void> {
  const created = await d.request({ method: 'POST', path: '/v1/sandboxes', body: { name: 'bench-mcp' } });
  if (created.status !== 201) throw new Error(`create: ${created.status} ${created.text()}`);
  const client = new Client({ name: 'hob-bench', version: '1.0.0' });
  await client.connect(
    new StdioClientTransport({ command: join(REPO, 'node_modules/.bin/tsx'), args: [join(REPO, 'daemon/cli/main.ts'), 'mcp', '--socket', d.socketPath], env: { ...process.env } as { [key: string]: string }, cwd: REPO }),
  );
  try {
    const api = async (): Promise<void> => {
      const r = await d.request({ method: 'POST', path: '/v1/sandboxes/bench-mcp/exec', body: { command: ['true'] } });
      if (r.status !== 200) throw new Error(`exec: ${r.status} ${r.text()}`);
    };
    const mcp = async (): Promise<void> => {
      const r = await client.callTool({ name: 'exec', arguments: { name: 'bench-mcp', command: ['true'] } });
      if (r.isError) throw new Error(`mcp exec: ${JSON.stringify(r.content)}`);
    };
    await api();
    await mcp();
    const apiSamples: number[] = [];
    const mcpSamples: number[] = [];
    // Interleaved, so that load on the machine weighs on both alike.
    for (let i = 0; i < SAMPLES; i++) {
      apiSamples.push((await time(api))[0]);
      mcpSamples.push((await time(mcp))[0]);
    }
    const apiMs = median(apiSamples);
    const mcpMs = median(mcpSamples);
    record(`exec true round trip (HTTP API on the socket), median of ${SAMPLES}`, apiMs, 'ms');
    record(`exec true round trip (MCP tool over stdio, hob mcp), median of ${SAMPLES}`, mcpMs, 'ms');
    record('MCP exec vs API exec', mcpMs / apiMs, 'ratio', 'the MCP hop: JSON-RPC over stdio plus one API request');
  } finally {
    await client.close();
    await d.request({ method: 'DELETE', path: '/v1/sandboxes/bench-mcp' });
  }
}
