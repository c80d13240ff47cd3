#!/usr/bin/env node
/**
 * Bundles the guest agent (guest-image/agent/main.ts and everything it imports,
 * including daemon/protocol) into one CommonJS file that runs on the Node binary
 * copied into the guest at /opt/hob/node. CommonJS, because that is what a V8
 * code cache can be made for on Node 20: the guest starts it through
 * /opt/hob/agent/agent.mjs (guest-image/rootfs), which loads the bundle with the
 * cache the image build wrote (docs/architecture.md §28).
 *
 * Used by the image builder (guest-image/build/) and by `npm run build`.
 *
 *   node guest-image/bundle-agent.mjs [--out FILE] [--entry FILE] [--json]
 *
 * Default output: dist/guest-image/agent.cjs. The entry can also be overridden
 * with HOB_AGENT_ENTRY (an absolute path; used to test the image build before the
 * real agent exists).
 *
 * node-pty stays external: it is a native addon, copied next to the bundle
 * into /opt/hob/agent/node_modules/node-pty by the image builder.
 *
 * Failure modes: the entry does not exist (AgentEntryMissingError, a clear
 * message naming the path); esbuild reports errors (the esbuild error is thrown
 * with its formatted messages).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Repository root (the directory holding package.json). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The agent's entry point inside the repository. */
export const defaultAgentEntry = path.join(repoRoot, 'guest-image', 'agent', 'main.ts');

/** Packages the bundle imports at run time instead of containing them. */
export const agentExternals = Object.freeze(['node-pty']);

/** Thrown when the agent's entry file does not exist. */
export class AgentEntryMissingError extends Error {
  /** @param {string} entry */
  constructor(entry) {
    super(
      `guest agent entry not found: ${entry} ` +
        '(the agent lives in guest-image/agent/main.ts; set HOB_AGENT_ENTRY to bundle another file)',
    );
    this.name = 'AgentEntryMissingError';
    this.entry = entry;
  }
}

/** The entry to bundle: HOB_AGENT_ENTRY if set, else guest-image/agent/main.ts. */
export function resolveAgentEntry() {
  const fromEnv = process.env.HOB_AGENT_ENTRY;
  return fromEnv ? path.resolve(fromEnv) : defaultAgentEntry;
}

/**
 * Bundles the agent.
 * @param {{ outfile: string, entry?: string }} options
 * @returns {Promise<{ outfile: string, entry: string, sha256: string, bytes: number, inputs: string[] }>}
 *   `inputs` are the source files esbuild read, relative to the repository root
 *   (or absolute when outside it).
 */
export async function bundleAgent(options) {
  const entry = path.resolve(options.entry ?? resolveAgentEntry());
  if (!existsSync(entry)) throw new AgentEntryMissingError(entry);
  const outfile = path.resolve(options.outfile);
  await mkdir(path.dirname(outfile), { recursive: true });
  // Imported lazily so that importing this module (for its constants) stays cheap.
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: [...agentExternals],
    // Paths in the bundle's comments are relative to this, so the output is the
    // same whatever directory the repository is checked out in.
    absWorkingDir: repoRoot,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
    sourcemap: false,
    minify: false,
  });
  const data = await readFile(outfile);
  return {
    outfile,
    entry,
    sha256: createHash('sha256').update(data).digest('hex'),
    bytes: data.length,
    inputs: Object.keys(result.metafile?.inputs ?? {}).sort(),
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: path.join(repoRoot, 'dist', 'guest-image', 'agent.cjs') },
      entry: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  try {
    const r = await bundleAgent({ outfile: values.out, ...(values.entry ? { entry: values.entry } : {}) });
    if (values.json) process.stdout.write(JSON.stringify(r) + '\n');
    else process.stdout.write(`agent bundle: ${path.relative(process.cwd(), r.outfile)} (${r.bytes} bytes, sha256 ${r.sha256.slice(0, 12)})\n`);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    process.stderr.write(`bundle-agent: ${msg}\n`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
