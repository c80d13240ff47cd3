/**
 * The hob runtime that goes into /opt/hob of every image:
 *   /opt/hob/node                           the pinned Node of the image's architecture (node-runtime.ts)
 *   /opt/hob/agent/agent.cjs                the bundled guest agent (CommonJS), started by agent.mjs
 *                                           (rootfs overlay) with V8's code cache agent.cjs.cache
 *   /opt/hob/agent/node_modules/node-pty/   node-pty built for the image's architecture (package.json, lib/,
 *                                           build/Release/*.node): the repository's own build on the host's
 *                                           architecture, a cross build for the other (node-pty-cross.ts)
 * The agent thus runs on a Node of our choosing, whatever Node the user installs.
 */
import { createRequire } from 'node:module';
import { chmod, copyFile, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AgentBundle } from '../bundle-agent.mjs';
import { ImageBuildError } from './errors.js';
import { hashInputs, sha256File } from './hash.js';
import { repoRoot, sourcePaths } from './paths.js';

type BundleModule = typeof import('../bundle-agent.mjs');

/**
 * Bundles the agent into `outfile` (see guest-image/bundle-agent.mjs).
 * Throws ImageBuildError if the entry is missing or esbuild fails.
 */
export async function bundleAgentInto(outfile: string, entry?: string): Promise<AgentBundle> {
  // Loaded by path so this works from dist/ too, where the .mjs is not copied.
  const mod = (await import(pathToFileURL(sourcePaths.bundleAgentScript).href)) as BundleModule;
  try {
    return await mod.bundleAgent({ outfile, ...(entry ? { entry } : {}) });
  } catch (err) {
    throw new ImageBuildError(`cannot bundle the guest agent: ${(err as Error).message}`, { cause: err });
  }
}

/** A built node-pty: where it is and the files that go into the image. */
export interface NodePtyFiles {
  readonly dir: string;
  readonly version: string;
  /** Paths relative to `dir`, sorted. */
  readonly files: readonly string[];
  /** Hash over the files' names and contents. */
  readonly sha256: string;
}

/** The repository's node-pty package directory (built by npm install for the host). */
export function repoNodePtyDir(): string {
  try {
    return path.dirname(createRequire(path.join(repoRoot, 'package.json')).resolve('node-pty/package.json'));
  } catch (err) {
    throw new ImageBuildError('node-pty is not installed in the repository (npm install)', { cause: err });
  }
}

/** The files of the node-pty package in `dir` (default: the repository's own build). */
export async function findNodePty(dir: string = repoNodePtyDir()): Promise<NodePtyFiles> {
  const pkgJson = path.join(dir, 'package.json');
  const version = (JSON.parse(await readFile(pkgJson, 'utf8')) as { version: string }).version;
  const files: string[] = ['package.json'];
  // lib/: the runtime JavaScript, without tests and source maps.
  for (const rel of await readdir(path.join(dir, 'lib'), { recursive: true })) {
    if (rel.endsWith('.js') && !rel.endsWith('.test.js')) files.push(path.join('lib', rel));
  }
  let natives: string[] = [];
  try {
    natives = (await readdir(path.join(dir, 'build', 'Release'))).filter((n) => n.endsWith('.node'));
  } catch {
    // handled below
  }
  if (natives.length === 0) {
    throw new ImageBuildError(`node-pty has no build/Release/*.node in ${dir} (was it built for this host?)`);
  }
  files.push(...natives.map((n) => path.join('build', 'Release', n)));
  files.sort();
  const hashes: Record<string, string> = {};
  for (const f of files) hashes[f] = await sha256File(path.join(dir, f));
  return { dir, version, files, sha256: hashInputs(hashes) };
}

/** Copies node-pty's files to `<dest>/` (the package directory itself). */
export async function installNodePty(pty: NodePtyFiles, dest: string): Promise<void> {
  for (const f of pty.files) {
    const to = path.join(dest, f);
    await mkdir(path.dirname(to), { recursive: true });
    await copyFile(path.join(pty.dir, f), to);
    await chmod(to, f.endsWith('.node') ? 0o755 : 0o644);
  }
}
