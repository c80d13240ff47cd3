/**
 * CLI of the image builder (run by guest-image/build.sh through tsx):
 *
 *   build.sh [--variant minimal|dev] [--arch amd64|arm64] [--out DIR] [--json]
 *            [--cache-dir DIR] [--force] [--force-base] [--verbose]
 *
 * --arch takes Debian's names; the default is the host's. The other one is a
 * cross build (qemu-user-static and a C++ cross compiler, see build-image.ts).
 *
 * Human output: one line per phase ("[i/n elapsed] phase: message"), tool
 * output only with --verbose, the image directory at the end. --json: one
 * BuildProgress object per line (NDJSON), the last has kind "done"; a failure
 * is a final {"kind":"error","message":...} line. Exit code 0 on success, 1 on failure.
 */
import { Command, Option } from 'commander';
import { buildImage } from './build-image.js';
import { formatProgress } from './progress.js';
import { imageVariants, type BuildOptions, type BuildProgress, type GuestArch, type ImageVariant } from './types.js';

/** Debian's architecture names, as --arch takes them. */
const archByDebianName: Record<string, GuestArch> = { amd64: 'x86_64', arm64: 'aarch64' };

interface CliOptions {
  variant: ImageVariant;
  arch?: string;
  out?: string;
  json: boolean;
  cacheDir?: string;
  force: boolean;
  forceBase: boolean;
  verbose: boolean;
}

const program = new Command('build.sh')
  .description('Build the hob guest image (kernel, initramfs, rootfs.img, manifest.json)')
  .addOption(new Option('--variant <variant>', 'package set').choices([...imageVariants]).default('minimal'))
  .addOption(new Option('--arch <arch>', "image architecture (default: the host's)").choices(Object.keys(archByDebianName)))
  .option('--out <dir>', 'also copy the image files into this directory')
  .option('--json', 'print progress as NDJSON', false)
  .option('--cache-dir <dir>', 'cache root (default $HOB_IMAGE_CACHE or /var/cache/hob/guest-images)')
  .option('--force', 'rebuild the image even if cached', false)
  .option('--force-base', 'also rebuild the Debian base tree (new package versions)', false)
  .option('--verbose', 'show the output of mmdebstrap and the other tools', false)
  .showHelpAfterError();

async function main(): Promise<void> {
  program.parse();
  const o = program.opts<CliOptions>();
  const print = (e: BuildProgress): void => {
    if (o.json) process.stdout.write(JSON.stringify(e) + '\n');
    else if (e.kind !== 'log' || o.verbose || e.message.startsWith('warning') || e.message.startsWith('waiting')) {
      process.stderr.write(formatProgress(e) + '\n');
    }
  };
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  process.once('SIGTERM', () => abort.abort());
  const opts: BuildOptions = {
    variant: o.variant,
    ...(o.arch ? { arch: archByDebianName[o.arch] } : {}),
    force: o.force,
    forceBase: o.forceBase,
    signal: abort.signal,
    ...(o.out ? { outDir: o.out } : {}),
    ...(o.cacheDir ? { cacheDir: o.cacheDir } : {}),
  };
  try {
    const r = await buildImage(opts, print);
    if (!o.json) process.stdout.write(`${r.paths.dir}\n`);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (o.json) process.stdout.write(JSON.stringify({ kind: 'error', message }) + '\n');
    else process.stderr.write(`build failed: ${message}\n`);
    process.exitCode = 1;
  }
}

await main();
