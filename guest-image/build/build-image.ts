/**
 * buildImage: the whole build, cached in two stages.
 *
 *   base tree (mmdebstrap, slow)      key = packages, suite, mirrors, arch, stage code
 *   image (kernel, initramfs, rootfs) key = base key + agent bundle + node + node-pty
 *                                           + builder code + rootfs overlay
 *
 * Either architecture builds on either host (docs/architecture.md §5): the base
 * tree of a foreign one under qemu-user through binfmt_misc (binfmt.ts), with the
 * pinned Node of the target (node-runtime.ts) and node-pty cross-compiled for it
 * (node-pty-cross.ts). Both stages' keys and cache entry names carry the arch.
 *
 * A build whose image key is in the cache returns at once (after hashing the
 * inputs and bundling the agent, well under a second). The agent bundle's
 * hash stands for the agent sources: it covers exactly the files esbuild
 * pulled in (guest-image/agent, daemon/protocol, bundled dependencies).
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { bundleAgentInto, findNodePty } from './agent-files.js';
import { baseKey, baseSpec, ensureBaseTree, findBaseTree } from './base-tree.js';
import {
  cleanStaleWork,
  commitEntry,
  makeWorkDir,
  openCache,
  pruneEntries,
  removeTree,
  resolveCacheRoot,
  touchEntry,
  withLock,
  type CacheLayout,
} from './cache.js';
import { installDefaultUser, VARIANT_DEFAULT_USER } from './default-user.js';
import { ImageBuildError } from './errors.js';
import { makeExt4, uuidFromHash } from './ext4.js';
import { hashInputs, hashTree, sha256File } from './hash.js';
import { withForeignExec } from './binfmt.js';
import { checkElfArch } from './elf.js';
import { archInfo, checkBuildHost, hostArch, toolVersion } from './host.js';
import { buildInitramfs } from './initramfs.js';
import { extractKernel } from './kernel.js';
import { imageManifestSchema, readManifest, type ImageManifest } from './manifest.js';
import { pinnedNode, type NodeRuntime } from './node-runtime.js';
import { crossNodePty } from './node-pty-cross.js';
import { resolveMirrors } from './packages.js';
import { repoRoot, sourcePaths } from './paths.js';
import { ProgressReporter } from './progress.js';
import {
  applyOverlay,
  globalNpmPackages,
  installedPackages,
  installRuntime,
  resetHostFiles,
  stripBoot,
  unpackBase,
  writeAgentCodeCache,
} from './tree.js';
import type { BuildOptions, BuildResult, GuestImagePaths, ProgressListener } from './types.js';

/** File names inside an image directory. */
export const imageFileNames = {
  kernel: 'kernel',
  initramfs: 'initramfs.img',
  rootfs: 'rootfs.img',
  manifest: 'manifest.json',
} as const;

/** How many finished images of one variant and arch the cache keeps. */
const keepImages = 3;

export function imagePaths(dir: string): GuestImagePaths {
  return {
    dir,
    kernel: path.join(dir, imageFileNames.kernel),
    initramfs: path.join(dir, imageFileNames.initramfs),
    rootfs: path.join(dir, imageFileNames.rootfs),
    manifest: path.join(dir, imageFileNames.manifest),
  };
}

/**
 * Builds (or finds in the cache) the guest image for `options.arch` (default: the host's).
 * Progress goes to `onProgress`; the last event is `done`.
 *
 * Failure modes (all ImageBuildError): not root, a tool missing, the agent entry
 * missing or not bundling, mmdebstrap failing (network, mirror), for a foreign
 * arch qemu-user-static or the cross compiler missing, the pinned Node's tarball
 * not matching its hash, a binary of the wrong arch, the kernel or
 * a required module missing, mkfs failing, the signal aborting. The cache is
 * never left with a partial entry.
 */
export async function buildImage(options: BuildOptions = {}, onProgress?: ProgressListener): Promise<BuildResult> {
  const p = new ProgressReporter(onProgress);
  const variant = options.variant ?? 'minimal';
  const host = hostArch();
  const arch = options.arch ? archInfo(options.arch) : host;
  const signal = options.signal;

  p.begin('inputs', `hashing inputs of the ${variant} image (${arch.arch}), bundling the agent`);
  await checkBuildHost(arch.arch !== host.arch);
  const cache = await openCache(resolveCacheRoot(options.cacheDir));
  for (const problem of await cleanStaleWork(cache)) p.log(`warning: ${problem}`);
  const spec = baseSpec(variant, arch, resolveMirrors(options));
  const bKey = await baseKey(spec);

  const work = await makeWorkDir(cache, 'image');
  try {
    const bundle = await bundleAgentInto(path.join(work, 'agent.cjs'), options.agentEntry);
    const node = await pinnedNode(cache, arch.arch, (l) => p.log(l));
    const [nodePty, code, overlay] = await Promise.all([
      arch.arch === host.arch ? findNodePty() : crossNodePty(cache, arch, node, (l) => p.log(l)),
      // The CLI wrapper does not shape the image.
      hashTree(sourcePaths.buildDir, (rel) => rel !== 'main.ts'),
      hashTree(sourcePaths.rootfsOverlay),
    ]);
    const key = hashInputs({
      stage: 'image',
      baseKey: bKey,
      agent: bundle.sha256,
      nodePty: nodePty.sha256,
      node: { version: node.version, sha256: node.sha256 },
      code,
      overlay,
    });
    const name = `${variant}-${arch.arch}-${key.slice(0, 16)}`;
    const finalDir = path.join(cache.imagesDir, name);

    const finish = async (cached: boolean): Promise<BuildResult> => {
      await touchEntry(finalDir);
      const manifest = await readManifest(imagePaths(finalDir).manifest);
      const paths = options.outDir ? await copyOut(finalDir, path.resolve(options.outDir)) : imagePaths(finalDir);
      p.done(paths, cached, cached ? `image ${name} is in the cache: ${paths.dir}` : `image ${name} ready: ${paths.dir}`);
      return { paths, manifest, cached, key };
    };
    if (!options.force && existsSync(imagePaths(finalDir).manifest)) return await finish(true);

    return await withLock(
      cache,
      `image-${name}`,
      async () => {
        if (!options.force && existsSync(imagePaths(finalDir).manifest)) return finish(true);
        await assemble({
          cache,
          work,
          finalDir,
          name,
          key,
          bKey,
          spec,
          bundle,
          nodePty,
          node,
          progress: p,
          ...(options.forceBase ? { forceBase: true } : {}),
          ...(signal ? { signal } : {}),
        });
        await pruneEntries(cache.imagesDir, `${variant}-${arch.arch}-`, keepImages, finalDir);
        return finish(false);
      },
      (pid) => p.log(`waiting for another build of the same image (pid ${pid})`),
      signal,
    );
  } finally {
    await removeTree(work).catch((err: unknown) => p.log(`warning: ${(err as Error).message}`));
  }
}

interface AssembleInput {
  readonly cache: CacheLayout;
  readonly work: string;
  readonly finalDir: string;
  readonly name: string;
  readonly key: string;
  readonly bKey: string;
  readonly spec: ReturnType<typeof baseSpec>;
  readonly bundle: Awaited<ReturnType<typeof bundleAgentInto>>;
  readonly nodePty: Awaited<ReturnType<typeof findNodePty>>;
  readonly node: NodeRuntime;
  readonly progress: ProgressReporter;
  readonly forceBase?: boolean;
  readonly signal?: AbortSignal;
}

async function assemble(a: AssembleInput): Promise<void> {
  const { progress: p, spec, signal } = a;
  const tree = path.join(a.work, 'tree');
  const out = path.join(a.work, 'out');
  await mkdir(tree, { mode: 0o755 });
  await mkdir(out);
  const files = imagePaths(out);

  const known = a.forceBase ? null : await findBaseTree(a.cache, spec);
  p.begin(
    'base',
    known
      ? `reusing the cached Debian base tree (built ${known.meta.builtAt})`
      : `building the Debian ${spec.suite} base tree with mmdebstrap (slow; cached afterwards)`,
  );
  const ensure = () =>
    ensureBaseTree(a.cache, spec, {
      force: a.forceBase ?? false,
      onLine: (l) => p.log(l),
      onWait: (pid) => p.log(`waiting for another build of the same base tree (pid ${pid})`),
      ...(signal ? { signal } : {}),
    });
  // A foreign tree runs its maintainer scripts under qemu-user: binfmt only while mmdebstrap runs.
  const base = known ? await ensure() : await withForeignExec(spec.arch, hostArch(), ensure, (l) => p.log(l));
  if (!base.cached) p.log('built and cached the base tree');

  p.begin('unpack', 'unpacking the base tree');
  await unpackBase(base.tarball, tree, signal);

  p.begin('kernel', `extracting the kernel (${spec.arch.kernelFormat})`);
  const kernel = await extractKernel(tree, spec.arch, files.kernel);
  p.log(`kernel ${kernel.version}`);

  p.begin('initramfs', 'building the initramfs');
  const initramfs = await buildInitramfs(tree, kernel.version);
  await writeFile(files.initramfs, initramfs.data);
  p.log(`modules: ${initramfs.modules.join(' ')}`);
  await stripBoot(tree);

  p.begin('rootfs', 'installing the hob runtime (node, agent, node-pty, /opt/hob/init)');
  await resetHostFiles(tree);
  await checkElfArch(a.node.path, spec.arch.arch);
  for (const f of a.nodePty.files.filter((n) => n.endsWith('.node'))) await checkElfArch(path.join(a.nodePty.dir, f), spec.arch.arch);
  await installRuntime(tree, { node: a.node, agentBundle: a.bundle.outfile, nodePty: a.nodePty });
  await applyOverlay(tree);
  // Only where the image's Node runs natively; elsewhere the agent compiles its bundle at boot.
  if (spec.arch.arch === hostArch().arch) await writeAgentCodeCache(tree);
  const defaultUser = VARIANT_DEFAULT_USER[spec.variant];
  await installDefaultUser(tree, defaultUser);
  const [packages, npmGlobal] = await Promise.all([installedPackages(tree), globalNpmPackages(tree)]);

  p.begin('filesystem', 'making rootfs.img (ext4)');
  const uuid = uuidFromHash(a.key);
  const label = 'hob-root';
  const fs = await makeExt4(tree, files.rootfs, { label, uuid, onLine: (l) => p.log(l), ...(signal ? { signal } : {}) });
  p.log(`rootfs.img: ${(fs.sizeBytes / 2 ** 20).toFixed(0)} MiB for ${(fs.usage.bytes / 2 ** 20).toFixed(0)} MiB of files`);
  await removeTree(tree);

  p.begin('finish', 'hashing outputs, writing the manifest');
  const fileInfo = async (n: string) => ({ name: path.basename(n), sha256: await sha256File(n), bytes: (await stat(n)).size });
  const kernelPackage = `linux-image-${kernel.version}`;
  const entryRel = path.relative(repoRoot, a.bundle.entry);
  const manifest: ImageManifest = imageManifestSchema.parse({
    schemaVersion: 1,
    name: `hob-${spec.variant}`,
    variant: spec.variant,
    arch: spec.arch.arch,
    debianArch: spec.arch.debianArch,
    inputsHash: a.key,
    baseHash: a.bKey,
    debian: {
      suite: spec.suite,
      sources: [...spec.sources],
      mmdebstrap: base.meta.mmdebstrap,
      baseBuiltAt: base.meta.builtAt,
    },
    kernel: {
      version: kernel.version,
      package: kernelPackage,
      packageVersion: packages[kernelPackage] ?? '',
      format: kernel.format,
    },
    initramfs: { compression: 'gzip', modules: [...initramfs.modules] },
    node: { version: a.node.version, sha256: a.node.sha256 },
    agent: {
      sha256: a.bundle.sha256,
      bytes: a.bundle.bytes,
      entry: entryRel.startsWith('..') ? a.bundle.entry : entryRel,
    },
    nodePty: { version: a.nodePty.version, sha256: a.nodePty.sha256 },
    defaultUser,
    npmGlobal,
    packages,
    rootfs: { fsType: 'ext4', label, uuid, treeBytes: fs.usage.bytes },
    files: {
      kernel: await fileInfo(files.kernel),
      initramfs: await fileInfo(files.initramfs),
      rootfs: await fileInfo(files.rootfs),
    },
    builder: { e2fsprogs: await toolVersion('mkfs.ext4', ['-V']), hostNode: process.version },
    builtAt: new Date().toISOString(),
    buildMs: p.elapsedMs(),
  });
  await writeFile(files.manifest, JSON.stringify(manifest, null, 2) + '\n');
  await commitEntry(out, a.finalDir);
}

/** Copies an image directory's files into `dest` (sparse, reflinked where possible), each atomically. */
async function copyOut(src: string, dest: string): Promise<GuestImagePaths> {
  await mkdir(dest, { recursive: true });
  const from = imagePaths(src);
  const to = imagePaths(dest);
  for (const k of ['kernel', 'initramfs', 'rootfs', 'manifest'] as const) {
    const tmp = `${to[k]}.tmp-${process.pid}`;
    const r = await execa('cp', ['--sparse=always', '--reflink=auto', from[k], tmp], { reject: false });
    if (r.exitCode !== 0) {
      await rm(tmp, { force: true });
      throw new ImageBuildError(`cannot copy ${from[k]} to ${dest}: ${r.stderr}`);
    }
    await rename(tmp, to[k]);
  }
  return to;
}
