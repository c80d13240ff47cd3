/**
 * `hob mcp` driven by the official MCP SDK's own Client over stdio (the CLI
 * spawned through tsx) against a real hobd and real VMs: the tools and their
 * annotations; create, exec, write, checkpoint, break, restore, read back,
 * fork, destroy; tool errors for bad input; and a scoped token (stdio with
 * --url/--token from inside hobd's namespace) that cannot see or touch a
 * sandbox outside its prefix nor exceed its count. Three boots: create, fork,
 * restore.
 */
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';

const REPO = resolve(import.meta.dirname, '../..');
const TSX = join(REPO, 'node_modules/.bin/tsx');
const MAIN = join(REPO, 'daemon/cli/main.ts');
/** A boot under TCG on a loaded machine can take minutes. */
const SLOW = { timeout: 600_000 };

const TOOLS = [
  'create_checkpoint', 'create_sandbox', 'destroy_sandbox', 'diff', 'exec', 'fork_sandbox', 'get_policy', 'get_url', 'list_checkpoints',
  'list_files', 'list_sandboxes', 'list_services', 'read_file', 'restore_checkpoint', 'sandbox_info', 'service_logs', 'set_policy', 'set_url', 'write_file',
];

type ToolResult = Awaited<ReturnType<Client['callTool']>>;

function text(result: ToolResult): string {
  return (result.content as Array<{ type: string; text?: string }>).map((c) => c.text ?? '').join('\n');
}

async function connect(command: string, args: readonly string[], stderr: string[]): Promise<Client> {
  const transport = new StdioClientTransport({ command, args: [...args], env: { ...process.env } as Record<string, string>, stderr: 'pipe', cwd: REPO });
  transport.stderr?.on('data', (d: Buffer) => stderr.push(d.toString()));
  const client = new Client({ name: 'hob-e2e', version: '1.0.0' });
  await client.connect(transport);
  return client;
}

describe('hob mcp (MCP SDK client, stdio, real VMs)', () => {
  let d: TestDaemon;
  let mcp: Client;
  const stderr: string[] = [];

  /** Calls a tool that must succeed. */
  const ok = async (name: string, args: Record<string, unknown>): Promise<string> => {
    const result = await mcp.callTool({ name, arguments: args }, undefined, SLOW);
    expect(result.isError, `${name}: ${text(result)}\n${stderr.join('')}\n${d.logs().slice(-2000)}`).toBeFalsy();
    return text(result);
  };

  beforeAll(async () => {
    d = await startTestDaemon();
    mcp = await connect(TSX, [MAIN, 'mcp', '--socket', d.socketPath], stderr);
  });
  afterAll(async () => {
    await mcp?.close();
    await d?.stop();
  });

  it('lists every tool, each annotated read-only or not, destructive or not, idempotent or not', async () => {
    const { tools } = await mcp.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(TOOLS);
    for (const tool of tools) {
      expect(typeof tool.annotations?.readOnlyHint, tool.name).toBe('boolean');
      expect(typeof tool.annotations?.destructiveHint, tool.name).toBe('boolean');
      expect(typeof tool.annotations?.idempotentHint, tool.name).toBe('boolean');
      if (tool.annotations?.readOnlyHint) expect(tool.annotations.destructiveHint, tool.name).toBe(false);
      expect(tool.inputSchema.type).toBe('object');
    }
    const byName = new Map(tools.map((t) => [t.name, t]));
    expect(byName.get('read_file')?.annotations?.readOnlyHint).toBe(true);
    expect(byName.get('exec')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('destroy_sandbox')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('restore_checkpoint')?.annotations?.destructiveHint).toBe(true);
    expect(byName.get('create_checkpoint')?.annotations?.destructiveHint).toBe(false);
    expect(byName.get('exec')?.inputSchema.required).toEqual(expect.arrayContaining(['name', 'command']));
  });

  it('creates, execs (deadline, capped output), writes, checkpoints, breaks, restores, reads back, forks', async () => {
    const progress: string[] = [];
    const created = await mcp.callTool({ name: 'create_sandbox', arguments: { name: 'mcp-a' } }, undefined, {
      ...SLOW,
      onprogress: (p) => progress.push(p.message ?? ''),
      resetTimeoutOnProgress: true,
    });
    expect(created.isError, text(created)).toBeFalsy();
    expect(JSON.parse(text(created))).toMatchObject({ created: { name: 'mcp-a', state: 'running' } });
    expect(progress.some((p) => /Booting VM/.test(p))).toBe(true);

    expect(await ok('exec', { name: 'mcp-a', command: 'uname -s; echo oops >&2; exit 3' })).toBe('exit code 3\n--- stdout ---\nLinux\n--- stderr ---\noops');
    expect(await ok('exec', { name: 'mcp-a', command: ['sleep', '30'], timeout: 2 })).toMatch(/^timed out after 2 s and was killed/);
    // A guest that floods its output: hobd keeps only the first max_output_bytes, and the result says how much there was.
    const capped = await ok('exec', { name: 'mcp-a', command: "head -c 20000000 /dev/zero | tr '\\0' x; echo END", max_output_bytes: 1000 });
    expect(capped).toMatch(/^exit code 0\n--- stdout ---\nx{1000}\n\[stdout truncated: only its first 1000 of 20000004 bytes are shown\]$/);

    expect(await ok('write_file', { name: 'mcp-a', path: '/root/work/notes.txt', content: 'the good version\n' })).toMatch(/^wrote 17 bytes to \/root\/work\/notes.txt/);
    const checkpoint = JSON.parse(await ok('create_checkpoint', { name: 'mcp-a', comment: 'before the risky step' })) as { checkpoint: { id: string; comment: string } };
    expect(checkpoint.checkpoint).toMatchObject({ id: 'v1', comment: 'before the risky step' });
    await ok('write_file', { name: 'mcp-a', path: '/root/work/notes.txt', content: 'broken\n' });
    await ok('exec', { name: 'mcp-a', command: 'echo junk > /root/work/junk.txt && sync' });
    expect(await ok('diff', { name: 'mcp-a', from: 'v1', path: '/root/work' })).toBe('A  /root/work/junk.txt\nM  /root/work/notes.txt');
    expect(await ok('list_checkpoints', { name: 'mcp-a' })).toContain('"before the risky step"');

    expect(await ok('restore_checkpoint', { name: 'mcp-a', checkpoint: 'v1' })).toMatch(/^mcp-a: Restored to v1/);
    expect(await ok('read_file', { name: 'mcp-a', path: '/root/work/notes.txt' })).toBe('the good version\n');
    const listing = JSON.parse(await ok('list_files', { name: 'mcp-a', path: '/root/work' })) as { entries: Array<{ name: string }> };
    expect(listing.entries.map((e) => e.name)).toEqual(['notes.txt']);
    expect(await ok('read_file', { name: 'mcp-a', path: '/root/work/notes.txt', max_bytes: 4 })).toBe('the \n[truncated: only the first 4 bytes of the file are shown]');

    const forked = JSON.parse(await ok('fork_sandbox', { name: 'mcp-a', new_name: 'mcp-b' })) as { forked: { name: string; forked_from: unknown } };
    expect(forked.forked).toMatchObject({ name: 'mcp-b', forked_from: { sandbox: 'mcp-a', checkpoint: null } });
    expect(await ok('read_file', { name: 'mcp-b', path: '/root/work/notes.txt' })).toBe('the good version\n');
  });

  it('gets and sets the URL access and the egress policy, lists services and reads their logs', async () => {
    expect(JSON.parse(await ok('get_url', { name: 'mcp-a' }))).toEqual({ url: expect.stringMatching(/^http:\/\/mcp-a\.localhost:\d+\/$/), access: 'private' });
    expect(JSON.parse(await ok('set_url', { name: 'mcp-a', access: 'public' }))).toMatchObject({ access: 'public' });
    expect(JSON.parse(await ok('get_policy', { name: 'mcp-a' }))).toEqual({ rules: [] });
    expect(await ok('set_policy', { name: 'mcp-a', rules: [{ domain: 'example.com', action: 'allow' }] })).toBe('policy of mcp-a set (1 rules)');
    expect(JSON.parse(await ok('get_policy', { name: 'mcp-a' }))).toEqual({ rules: [{ domain: 'example.com', action: 'allow' }] });
    expect(await ok('list_services', { name: 'mcp-a' })).toBe('no services');
    const put = await d.request({ method: 'PUT', path: '/v1/sandboxes/mcp-a/services/ticker?duration=0', body: { cmd: 'sh', args: ['-c', 'echo tick; sleep 3600'] } });
    expect(put.status).toBe(200);
    expect(JSON.parse(await ok('list_services', { name: 'mcp-a' }))).toEqual([expect.objectContaining({ name: 'ticker', cmd: 'sh -c echo tick; sleep 3600' })]);
    await expect.poll(async () => text(await mcp.callTool({ name: 'service_logs', arguments: { name: 'mcp-a', service: 'ticker' } })), { timeout: 30_000 }).toContain('tick');
  });

  it('answers unknown tools, bad arguments and failing calls with tool errors, and hobd keeps running', async () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['rm_rf_everything', {}, /Tool rm_rf_everything not found/],
      ['exec', { name: 'Bad Name', command: 'true' }, /Input validation error/],
      ['exec', { name: 'mcp-a' }, /Input validation error.*command/s],
      ['exec', { name: 'mcp-a', command: 'true', timeout: -1 }, /Input validation error/],
      ['write_file', { name: 'mcp-a', path: 'x\0y', content: '' }, /Input validation error/],
      ['restore_checkpoint', { name: 'mcp-a', checkpoint: '../../etc' }, /Input validation error/],
      ['sandbox_info', { name: 'nope' }, /^no sandbox named "nope"$/],
      ['read_file', { name: 'mcp-a', path: '/no/such/file' }, /no such file|ENOENT|not found/i],
      ['restore_checkpoint', { name: 'mcp-a', checkpoint: 'v99' }, /v99/],
      ['create_sandbox', { name: 'mcp-a' }, /already exists/],
      ['set_policy', { name: 'mcp-a', rules: [{ domain: 'not a domain!', action: 'allow' }] }, /Input validation error/],
    ];
    for (const [name, args, expected] of cases) {
      const result = await mcp.callTool({ name, arguments: args }, undefined, SLOW);
      expect(result.isError, `${name} ${JSON.stringify(args)}: ${text(result)}`).toBe(true);
      expect(text(result)).toMatch(expected);
    }
    expect((await d.request({ method: 'GET', path: '/healthz' })).status).toBe(200);
  });

  it('holds a client to its scope: a scoped token (enforced by hobd) and --prefix (client-side)', async () => {
    const created = await d.request({ method: 'POST', path: '/v1/tokens', body: { name: 'mcp-scoped', prefix: 'mcp-b', max_sandboxes: 1 } });
    expect(created.status).toBe(201);
    const token = created.json<{ token: string }>().token;
    const errors: string[] = [];
    // stdio with the token, over hobd's TCP listener inside its namespace: no client-side scope at all.
    const scoped = await connect('ip', ['netns', 'exec', d.netns.name, TSX, MAIN, 'mcp', '--url', d.baseUrl, '--token', token], errors);
    try {
      const call = (name: string, args: Record<string, unknown>) => scoped.callTool({ name, arguments: args }, undefined, SLOW);
      const listed = await call('list_sandboxes', {});
      expect((JSON.parse(text(listed)) as Array<{ name: string }>).map((s) => s.name)).toEqual(['mcp-b']);
      for (const [name, args] of [
        ['sandbox_info', { name: 'mcp-a' }],
        ['exec', { name: 'mcp-a', command: 'touch /root/pwned' }],
        ['read_file', { name: 'mcp-a', path: '/etc/hostname' }],
        ['write_file', { name: 'mcp-a', path: '/root/pwned', content: 'x' }],
        ['restore_checkpoint', { name: 'mcp-a', checkpoint: 'v1' }],
        ['set_policy', { name: 'mcp-a', rules: [] }],
        ['destroy_sandbox', { name: 'mcp-a' }],
        ['create_sandbox', { name: 'mcp-b2', from: 'mcp-a:v1' }],
      ] as const) {
        const result = await call(name, args);
        expect(result.isError, `${name}: ${text(result)}`).toBe(true);
        expect(text(result)).toBe('no sandbox named "mcp-a"');
      }
      const outside = await call('create_sandbox', { name: 'elsewhere' });
      expect(text(outside)).toBe('this token may only create sandboxes whose names start with "mcp-b"');
      for (const [name, args] of [['create_sandbox', { name: 'mcp-b2' }], ['fork_sandbox', { name: 'mcp-b', new_name: 'mcp-b3' }]] as const) {
        const result = await call(name, args);
        expect(result.isError).toBe(true);
        expect(text(result)).toBe('this token may have at most 1 sandbox starting with "mcp-b", and 1 exist');
      }
      expect((await call('exec', { name: 'mcp-b', command: 'hostname' })).isError).toBeFalsy();
      expect(await (await call('destroy_sandbox', { name: 'mcp-b' })).isError).toBeFalsy();
    } finally {
      await scoped.close();
    }
    // mcp-a was not touched, and no sandbox was made.
    const after = await d.request({ method: 'GET', path: '/v1/sandboxes' });
    expect(after.json<{ sprites: Array<{ name: string }> }>().sprites.map((s) => s.name)).toEqual(['mcp-a']);
    expect(await ok('read_file', { name: 'mcp-a', path: '/root/work/notes.txt' })).toBe('the good version\n');
    const pwned = await mcp.callTool({ name: 'read_file', arguments: { name: 'mcp-a', path: '/root/pwned' } });
    expect(pwned.isError).toBe(true);

    // The same rules client-side, for stdio on the socket (weaker: the socket itself is unscoped).
    const limited = await connect(TSX, [MAIN, 'mcp', '--socket', d.socketPath, '--prefix', 'zz-'], errors);
    try {
      expect(text(await limited.callTool({ name: 'list_sandboxes', arguments: {} }))).toBe('no sandboxes');
      const info = await limited.callTool({ name: 'sandbox_info', arguments: { name: 'mcp-a' } });
      expect(info.isError).toBe(true);
      expect(text(info)).toBe('no sandbox named "mcp-a"');
    } finally {
      await limited.close();
    }

    expect(await ok('destroy_sandbox', { name: 'mcp-a' })).toBe('destroyed mcp-a');
    expect(await ok('list_sandboxes', {})).toBe('no sandboxes');
  });
});
