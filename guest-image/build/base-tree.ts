/**
 * Stage 1: the Debian base tree, made by mmdebstrap and cached as a tarball.
 * It is slow (one to a few minutes for `minimal`, far more for `dev`). Its key
 * is the mmdebstrap command line (package list, suite, mirrors, arch, dpkg
 * filters), the hook scripts' contents and their environment: exactly what
 * decides the tree, so refactoring this file does not force a rebuild, and the
 * key does not depend on where the repository is checked out.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import * as z from 'zod';
import { commitEntry, makeWorkDir, pruneEntries, removeTree, touchEntry, withLock, type CacheLayout } from './cache.js';
import { hashInputs, sha256File } from './hash.js';
import type { ArchInfo } from './host.js';
import { toolVersion } from './host.js';
import { aptSources, debianSuite, devNpmPackages, dpkgPathFilters, variantPackages, type MirrorConfig } from './packages.js';
import { ImageBuildError } from './errors.js';
import { sourcePaths } from './paths.js';
import { runTool } from './run.js';
import type { ImageVariant } from './types.js';

const devHook = sourcePaths.devHook;

/** Everything that decides the base tree. */
export interface BaseSpec {
  readonly variant: ImageVariant;
  readonly arch: ArchInfo;
  readonly suite: string;
  readonly sources: readonly string[];
  readonly packages: readonly string[];
  readonly dpkgOptions: readonly string[];
  readonly npmGlobal: readonly string[];
}

export function baseSpec(variant: ImageVariant, arch: ArchInfo, mirrors: MirrorConfig): BaseSpec {
  return {
    variant,
    arch,
    suite: debianSuite,
    sources: aptSources(mirrors),
    packages: variantPackages(variant, arch),
    dpkgOptions: dpkgPathFilters,
    npmGlobal: variant === 'dev' ? devNpmPackages : [],
  };
}

/** Placeholders that keep host paths out of the key. */
const outputPlaceholder = '<output>';
const hookPlaceholder = '<customize-dev.sh>';

/** mmdebstrap's arguments for `spec`, writing `tarball`, with the dev hook at `hook`. */
function mmdebstrapArgs(spec: BaseSpec, tarball: string, hook: string): string[] {
  return [
    '--mode=root',
    '--variant=minbase',
    `--arch=${spec.arch.debianArch}`,
    '--format=tar',
    `--include=${spec.packages.join(',')}`,
    '--aptopt=Acquire::Retries "3"',
    ...spec.dpkgOptions.map((o) => `--dpkgopt=${o}`),
    ...(spec.variant === 'dev' ? [`--customize-hook=${hook}`] : []),
    spec.suite,
    tarball,
    ...spec.sources,
  ];
}

/** Environment the hooks see (besides TMPDIR and the npm registry, which do not change the result). */
function hookEnv(spec: BaseSpec): Record<string, string> {
  return { HOB_NPM_GLOBAL: spec.npmGlobal.join(' ') };
}

export async function baseKey(spec: BaseSpec): Promise<string> {
  return hashInputs({
    stage: 'base',
    args: mmdebstrapArgs(spec, outputPlaceholder, hookPlaceholder),
    env: hookEnv(spec),
    hooks: spec.variant === 'dev' ? { [hookPlaceholder]: await sha256File(devHook) } : {},
  });
}

const baseMetaSchema = z.object({
  builtAt: z.string(),
  mmdebstrap: z.string(),
  sources: z.array(z.string()),
});
export type BaseMeta = z.infer<typeof baseMetaSchema>;

/** A cached base tree. */
export interface BaseTree {
  readonly key: string;
  /** Uncompressed tar of the tree, numeric owners, device nodes included. */
  readonly tarball: string;
  readonly meta: BaseMeta;
  /** True if it was already in the cache. */
  readonly cached: boolean;
}

function entryName(spec: BaseSpec, key: string): string {
  return `${spec.variant}-${spec.arch.arch}-${key.slice(0, 16)}`;
}

/** The cached tree for `spec`, or null if there is none yet. */
export async function findBaseTree(c: CacheLayout, spec: BaseSpec): Promise<BaseTree | null> {
  const key = await baseKey(spec);
  const dir = path.join(c.baseDir, entryName(spec, key));
  if (!existsSync(path.join(dir, 'meta.json'))) return null;
  const meta = baseMetaSchema.parse(JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')));
  return { key, tarball: path.join(dir, 'tree.tar'), meta, cached: true };
}

/**
 * Returns the cached tree for `spec`, building it with mmdebstrap first if
 * needed (or if `force`). `onLine` receives mmdebstrap's output.
 * Throws ImageBuildError if mmdebstrap fails.
 */
export async function ensureBaseTree(
  c: CacheLayout,
  spec: BaseSpec,
  opts: { force?: boolean; onLine?: (line: string) => void; onWait?: (pid: number) => void; signal?: AbortSignal },
): Promise<BaseTree> {
  const key = await baseKey(spec);
  const name = entryName(spec, key);
  const dir = path.join(c.baseDir, name);
  const read = async (cached: boolean): Promise<BaseTree> => {
    await touchEntry(dir);
    const meta = baseMetaSchema.parse(JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')));
    return { key, tarball: path.join(dir, 'tree.tar'), meta, cached };
  };
  if (!opts.force && existsSync(path.join(dir, 'meta.json'))) return read(true);

  return withLock(
    c,
    `base-${name}`,
    async () => {
      // Someone else may have built it while we waited for the lock.
      if (!opts.force && existsSync(path.join(dir, 'meta.json'))) return read(true);
      const work = await makeWorkDir(c, 'base');
      // apt downloads as user _apt into mmdebstrap's temp dir below this one.
      await chmod(work, 0o755);
      try {
        const out = path.join(work, 'entry');
        await mkdir(out);
        await runMmdebstrap(spec, path.join(out, 'tree.tar'), work, opts);
        const meta: BaseMeta = {
          builtAt: new Date().toISOString(),
          mmdebstrap: await toolVersion('mmdebstrap'),
          sources: [...spec.sources],
        };
        await writeFile(path.join(out, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
        if (opts.force && existsSync(dir)) await removeTree(dir);
        await commitEntry(out, dir);
      } finally {
        await removeTree(work).catch(() => undefined);
      }
      // Keep the previous tree of this variant too: switching branches back and forth is common.
      await pruneEntries(c.baseDir, `${spec.variant}-${spec.arch.arch}-`, 2, dir);
      return read(false);
    },
    opts.onWait,
    opts.signal,
  );
}

async function runMmdebstrap(
  spec: BaseSpec,
  tarball: string,
  work: string,
  opts: { onLine?: (line: string) => void; signal?: AbortSignal },
): Promise<void> {
  const args = mmdebstrapArgs(spec, tarball, devHook);
  const env: Record<string, string> = {
    ...hookEnv(spec),
    // mmdebstrap assembles the tree in TMPDIR: keep those hundreds of MB on the cache's disk.
    TMPDIR: work,
    ...(process.env.npm_config_registry ? { HOB_NPM_REGISTRY: process.env.npm_config_registry } : {}),
  };
  await runTool('mmdebstrap', args, { env, ...opts });
  const st = await stat(tarball);
  if (st.size < 1024 * 1024) throw new ImageBuildError(`mmdebstrap produced a suspiciously small tarball (${st.size} bytes)`);
}
