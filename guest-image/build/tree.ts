/**
 * Stage 2 on the unpacked tree: unpack the cached base, strip what the image
 * does not boot from, lay the hob runtime and the rootfs overlay over it, and
 * read back what is installed (for the manifest).
 */
import { existsSync } from 'node:fs';
import { chmod, chown, copyFile, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { installNodePty, type NodePtyFiles } from './agent-files.js';
import { ImageBuildError } from './errors.js';
import type { NodeRuntime } from './node-runtime.js';
import { sourcePaths } from './paths.js';
import { runTool } from './run.js';

/** Unpacks the base tarball into `tree` (an empty directory), keeping owners, modes, xattrs and device nodes. */
export async function unpackBase(tarball: string, tree: string, signal?: AbortSignal): Promise<void> {
  await runTool(
    'tar',
    ['--extract', `--file=${tarball}`, `--directory=${tree}`, '--numeric-owner', '--preserve-permissions', '--xattrs', '--xattrs-include=*'],
    signal ? { signal } : {},
  );
}

/**
 * Removes the kernel and the distro initrd (both live outside the filesystem:
 * the VMM boots them directly) but keeps /lib/modules for modprobe in the guest.
 */
export async function stripBoot(tree: string): Promise<void> {
  await rm(path.join(tree, 'boot'), { recursive: true, force: true });
  await mkdir(path.join(tree, 'boot'), { mode: 0o755 });
  for (const link of ['vmlinuz', 'vmlinuz.old', 'initrd.img', 'initrd.img.old']) {
    await rm(path.join(tree, link), { force: true });
  }
}

async function installFile(src: string, dest: string, mode: number): Promise<void> {
  await mkdir(path.dirname(dest), { recursive: true });
  await copyFile(src, dest);
  await chown(dest, 0, 0);
  await chmod(dest, mode);
}

/**
 * Copies guest-image/rootfs/ over the tree: regular files only, owned by root,
 * mode 0755 if executable in the repository, else 0644. Existing directories
 * keep their modes; new ones get 0755.
 */
export async function applyOverlay(tree: string, overlay = sourcePaths.rootfsOverlay): Promise<string[]> {
  const installed: string[] = [];
  async function walk(rel: string): Promise<void> {
    for (const name of (await readdir(path.join(overlay, rel))).sort()) {
      const r = path.join(rel, name);
      const st = await lstat(path.join(overlay, r));
      if (st.isDirectory()) {
        const d = path.join(tree, r);
        if (!existsSync(d)) await mkdir(d, { mode: 0o755 });
        await walk(r);
      } else if (st.isFile()) {
        const dest = path.join(tree, r);
        // A symlink in the tree (e.g. /etc/resolv.conf) must not redirect our write.
        await rm(dest, { force: true });
        await installFile(path.join(overlay, r), dest, st.mode & 0o111 ? 0o755 : 0o644);
        installed.push(`/${r}`);
      } else {
        throw new ImageBuildError(`rootfs overlay may hold only files and directories: ${r}`);
      }
    }
  }
  await walk('');
  return installed;
}

/** Replaces host-specific files that mmdebstrap copied into the tree. */
export async function resetHostFiles(tree: string): Promise<void> {
  const resolv = path.join(tree, 'etc', 'resolv.conf');
  await rm(resolv, { force: true });
  await writeFile(resolv, '# Written at boot by /opt/hob/init from hob.dns= on the kernel command line.\n', { mode: 0o644 });
}

/** Installs /opt/hob/node, /opt/hob/agent/agent.cjs (the bundle; its loader agent.mjs comes with the overlay) and node-pty. */
export async function installRuntime(
  tree: string,
  parts: { node: NodeRuntime; agentBundle: string; nodePty: NodePtyFiles },
): Promise<void> {
  const opt = path.join(tree, 'opt', 'hob');
  await mkdir(path.join(opt, 'agent', 'node_modules'), { recursive: true, mode: 0o755 });
  await installFile(parts.node.path, path.join(opt, 'node'), 0o755);
  await installFile(parts.agentBundle, path.join(opt, 'agent', 'agent.cjs'), 0o644);
  await installNodePty(parts.nodePty, path.join(opt, 'agent', 'node_modules', 'node-pty'));
}

/** name -> version of every Debian package installed in the tree. */
export async function installedPackages(tree: string): Promise<Record<string, string>> {
  const out = await runTool('dpkg-query', [
    `--admindir=${path.join(tree, 'var', 'lib', 'dpkg')}`,
    '--show',
    '--showformat=${Package}\t${Version}\t${db:Status-Abbrev}\n',
  ]);
  const pkgs: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const [name, version, status] = line.split('\t');
    if (name && version && status?.startsWith('ii')) pkgs[name] = version;
  }
  return pkgs;
}

/** name -> version of the npm packages installed globally in the tree (Debian npm: /usr/local). */
export async function globalNpmPackages(tree: string): Promise<Record<string, string>> {
  const root = path.join(tree, 'usr', 'local', 'lib', 'node_modules');
  const out: Record<string, string> = {};
  const names: string[] = [];
  for (const n of await readdir(root).catch(() => [] as string[])) {
    if (n.startsWith('@')) {
      for (const s of await readdir(path.join(root, n)).catch(() => [] as string[])) names.push(`${n}/${s}`);
    } else if (!n.startsWith('.')) names.push(n);
  }
  for (const n of names.sort()) {
    try {
      out[n] = (JSON.parse(await readFile(path.join(root, n, 'package.json'), 'utf8')) as { version: string }).version;
    } catch {
      // not a package
    }
  }
  return out;
}

/**
 * Writes /opt/hob/agent/agent.cjs.cache: the tree's own Node evaluates the agent's bundle
 * through its loader (without starting the agent) and saves V8's code cache of it
 * (docs/architecture.md §28). Runs the image's Node binary, so only for the host's architecture.
 */
export async function writeAgentCodeCache(tree: string): Promise<void> {
  const opt = path.join(tree, 'opt', 'hob');
  await runTool(path.join(opt, 'node'), [path.join(opt, 'agent', 'agent.mjs')], { env: { HOB_AGENT_WRITE_CODE_CACHE: '1' } });
}
