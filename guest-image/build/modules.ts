/**
 * Kernel modules for the initramfs: which ones, in what order, uncompressed.
 *
 * Debian's cloud kernel builds virtio as modules. The load order is computed
 * here on the host from modules.dep (dependencies first), so the initramfs
 * needs no modprobe, only busybox insmod, which cannot read compressed
 * modules: .ko.xz/.ko.zst/.ko.gz are inflated here.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { execa } from 'execa';
import { ImageBuildError } from './errors.js';

/**
 * Modules the guest needs before its root filesystem is mounted, in the order
 * they should be loaded (their dependencies are inserted before them).
 * `required: false` ones are skipped when the kernel lacks them; any module
 * that is built in (modules.builtin) is skipped as well.
 */
export const initramfsModules: ReadonlyArray<{ readonly name: string; readonly required: boolean }> = [
  // Transports first so that devices exist when their drivers register.
  { name: 'virtio_pci', required: true },
  { name: 'virtio_mmio', required: false },
  { name: 'virtio_blk', required: true },
  { name: 'ext4', required: true },
  { name: 'virtio_net', required: false },
  { name: 'virtio_console', required: false },
  { name: 'vmw_vsock_virtio_transport', required: false },
  { name: 'virtio_rng', required: false },
  { name: 'virtio_balloon', required: false },
];

/** A module as file in the tree. */
export interface ModuleFile {
  /** Canonical name (dashes become underscores), e.g. virtio_rng. */
  readonly name: string;
  /** Path relative to /lib/modules/<version>/, e.g. kernel/drivers/char/hw_random/virtio-rng.ko */
  readonly relPath: string;
}

/** Module name from a path in modules.dep: basename without .ko[.xz|.zst|.gz], '-' -> '_'. */
export function moduleName(relPath: string): string {
  return path.basename(relPath).replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
}

export interface ModuleIndex {
  /** name -> path and the paths of its dependencies, as modules.dep lists them. */
  readonly deps: ReadonlyMap<string, { readonly relPath: string; readonly deps: readonly string[] }>;
  /** Names of built-in modules. */
  readonly builtin: ReadonlySet<string>;
}

/** Parses modules.dep and modules.builtin text. */
export function parseModuleIndex(modulesDep: string, modulesBuiltin: string): ModuleIndex {
  const deps = new Map<string, { relPath: string; deps: string[] }>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const relPath = line.slice(0, colon).trim();
    const d = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean);
    deps.set(moduleName(relPath), { relPath, deps: d });
  }
  const builtin = new Set(modulesBuiltin.split('\n').map((l) => l.trim()).filter(Boolean).map(moduleName));
  return { deps, builtin };
}

/**
 * The load order for `wanted` (in that order), each preceded by its not yet
 * loaded dependencies. modules.dep lists a module's dependencies so that the
 * last one must be loaded first, hence the reverse walk.
 * Throws ImageBuildError for a required module the kernel has neither as
 * module nor built in.
 */
export function loadOrder(index: ModuleIndex, wanted: ReadonlyArray<{ name: string; required: boolean }>): ModuleFile[] {
  const out: ModuleFile[] = [];
  const seen = new Set<string>();
  const visit = (name: string, chain: readonly string[]): void => {
    if (seen.has(name)) return;
    const entry = index.deps.get(name);
    if (!entry) throw new ImageBuildError(`module ${name} (needed by ${chain.join(' <- ')}) is not in modules.dep`);
    if (chain.includes(name)) throw new ImageBuildError(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    for (const dep of [...entry.deps].reverse()) visit(moduleName(dep), [...chain, name]);
    seen.add(name);
    out.push({ name, relPath: entry.relPath });
  };
  for (const w of wanted) {
    if (index.builtin.has(w.name)) continue;
    if (!index.deps.has(w.name)) {
      if (w.required) throw new ImageBuildError(`the kernel has no module or built-in driver ${w.name}`);
      continue;
    }
    visit(w.name, []);
  }
  return out;
}

/** Reads modules.dep/modules.builtin from `<tree>/usr/lib/modules/<version>`. */
export async function readModuleIndex(modulesDir: string): Promise<ModuleIndex> {
  const dep = path.join(modulesDir, 'modules.dep');
  if (!existsSync(dep)) throw new ImageBuildError(`${dep} is missing (depmod did not run in the tree?)`);
  const builtinFile = path.join(modulesDir, 'modules.builtin');
  return parseModuleIndex(
    await readFile(dep, 'utf8'),
    existsSync(builtinFile) ? await readFile(builtinFile, 'utf8') : '',
  );
}

/** A module file's bytes, inflated if it is compressed. */
export async function readModule(modulesDir: string, relPath: string): Promise<Buffer> {
  const file = path.join(modulesDir, relPath);
  if (relPath.endsWith('.ko')) return readFile(file);
  if (relPath.endsWith('.ko.gz')) return gunzipSync(await readFile(file));
  const tool = relPath.endsWith('.ko.xz') ? 'xz' : relPath.endsWith('.ko.zst') ? 'zstd' : null;
  if (!tool) throw new ImageBuildError(`unknown module format: ${relPath}`);
  const r = await execa(tool, ['-dc', file], { encoding: 'buffer', reject: false });
  if (r.exitCode !== 0) throw new ImageBuildError(`${tool} -dc ${file} failed: ${Buffer.from(r.stderr).toString()}`);
  return Buffer.from(r.stdout);
}
