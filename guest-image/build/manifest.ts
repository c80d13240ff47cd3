/**
 * manifest.json: what an image is and how it was made. Written last into the
 * image directory; the daemon reads it (validated) when it imports an image and
 * records kernel and agent versions with every sandbox.
 */
import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { ImageBuildError } from './errors.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

const fileInfo = z.object({
  /** File name inside the image directory. */
  name: z.string(),
  sha256,
  /** Apparent size in bytes. */
  bytes: z.number().int().nonnegative(),
});

export const imageManifestSchema = z.object({
  schemaVersion: z.literal(1),
  /** Image name used by the daemon (`images/<name>/` in the pool): `hob-<variant>`. */
  name: z.string(),
  variant: z.enum(['minimal', 'dev']),
  arch: z.enum(['x86_64', 'aarch64']),
  /** Debian's name of the architecture (amd64, arm64). */
  debianArch: z.string(),
  /** Hash of every input; names the cache entry. Equal keys mean equal images. */
  inputsHash: sha256,
  /** Hash of the inputs of the Debian base tree only. */
  baseHash: sha256,
  debian: z.object({
    suite: z.string(),
    /** The apt source lines the tree was built from (also the guest's sources.list). */
    sources: z.array(z.string()),
    mmdebstrap: z.string(),
    /** When the base tree was made: package versions are those of the mirror at that time. */
    baseBuiltAt: z.string(),
  }),
  kernel: z.object({
    /** uname -r of the guest, e.g. 6.1.0-56-cloud-amd64. */
    version: z.string(),
    /** Debian package the kernel came from and its version. */
    package: z.string(),
    packageVersion: z.string(),
    /** bzImage (x86_64, as shipped) or Image (aarch64, uncompressed). */
    format: z.enum(['bzImage', 'Image']),
  }),
  initramfs: z.object({
    compression: z.literal('gzip'),
    /** Modules the initramfs loads, in load order. */
    modules: z.array(z.string()),
  }),
  node: z.object({
    /** Version of /opt/hob/node (the pinned Node of the image's arch, guest-image/build/node-runtime.ts). */
    version: z.string(),
    sha256,
  }),
  agent: z.object({
    /** sha256 of /opt/hob/agent/agent.cjs (the bundle; agent.mjs is its loader, agent.cjs.cache V8's code cache of it). */
    sha256,
    bytes: z.number().int().nonnegative(),
    /** Entry the bundle was made from, relative to the repository when inside it. */
    entry: z.string(),
  }),
  nodePty: z.object({ version: z.string(), sha256 }),
  /**
   * Who execs run as when no user is asked for (also in the image's
   * /etc/hob/default-user, where the guest agent reads it). Images built
   * before it was recorded run everything as root.
   */
  defaultUser: z.string().default('root'),
  /** npm packages installed globally (dev variant), name -> version. */
  npmGlobal: z.record(z.string(), z.string()),
  /** Every Debian package in the image, name -> version. */
  packages: z.record(z.string(), z.string()),
  rootfs: z.object({
    fsType: z.literal('ext4'),
    label: z.string(),
    uuid: z.string(),
    /** Bytes of file data in the tree the filesystem was made from. */
    treeBytes: z.number().int().nonnegative(),
  }),
  files: z.object({ kernel: fileInfo, initramfs: fileInfo, rootfs: fileInfo }),
  builder: z.object({
    /** Versions of the tools that shaped the output. */
    e2fsprogs: z.string(),
    hostNode: z.string(),
  }),
  builtAt: z.string(),
  buildMs: z.number().int().nonnegative(),
});

export type ImageManifest = z.infer<typeof imageManifestSchema>;

/** Reads and validates a manifest. Throws ImageBuildError if missing or invalid. */
export async function readManifest(file: string): Promise<ImageManifest> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ImageBuildError(`cannot read image manifest ${file}`, { cause: err });
  }
  const parsed = imageManifestSchema.safeParse(raw);
  if (!parsed.success) throw new ImageBuildError(`invalid image manifest ${file}: ${parsed.error.message}`);
  return parsed.data;
}
