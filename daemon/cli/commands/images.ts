/**
 * Guest images: `hob images ls | build | rm`. Sandboxes are created from an
 * image (`hob create --image NAME`; hobd's default is `dev`).
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { parseResponse } from '../client.js';
import { addCommonOptions, clientFor, wantsJson, type CliContext } from '../context.js';
import { progressFor, runWithProgress } from '../operation.js';
import { formatBytes, formatSince, formatTable, printJson } from '../output.js';
import { ImageBuildComplete, ImageList, type ImageObject } from '../schemas.js';
import { checkImageName } from '../units.js';

export function imageTable(images: readonly ImageObject[], now: Date = new Date()): string {
  // TEMPLATE only from a hobd that reports it (templates on: `-` for none).
  const withTemplate = images.some((i) => i.template !== undefined);
  return formatTable(
    ['NAME', 'VARIANT', 'ARCH', 'KERNEL', 'ROOTFS', 'BUILT', ...(withTemplate ? ['TEMPLATE'] : [])],
    images.map((i) => [
      i.name, i.variant ?? '-', i.arch ?? '-', i.kernel ?? '-', i.rootfs_bytes === null ? '-' : formatBytes(i.rootfs_bytes), i.built_at === null ? '-' : formatSince(i.built_at, now),
      ...(withTemplate ? [i.template ?? '-'] : []),
    ]),
  );
}

export function registerImageCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const images = program.command('images').alias('image').description('list, build and remove guest images');

  addCommonOptions(images.command('ls').alias('list').description('list images')).action(async (_o: unknown, cmd: Command) => {
    const res = await clientFor(cmd, ctx).json('GET', '/v1/images', ImageList);
    if (wantsJson(cmd)) return printJson(io.stdout, res.images);
    io.stdout.write(imageTable(res.images));
  });

  addCommonOptions(
    images
      .command('build')
      .description('build an image on this machine and add it to the pool (a first dev build takes many minutes)')
      .argument('[name]', 'image name (default: the variant)')
      .addOption(new Option('--variant <variant>', 'package set').choices(['minimal', 'dev']).default('dev'))
      .option('--replace', 'replace an existing image of that name (sandboxes made from it are unaffected)'),
  ).action(async (given: string | undefined, o: { variant: 'minimal' | 'dev'; replace?: boolean }, cmd: Command) => {
    const name = checkImageName(given ?? o.variant);
    const value = await runWithProgress(
      clientFor(cmd, ctx),
      'POST',
      '/v1/images',
      { json: { name, variant: o.variant, replace: o.replace === true } },
      progressFor(cmd, ctx),
    );
    const done = parseResponse(ImageBuildComplete, value, 'images build');
    if (wantsJson(cmd)) return printJson(io.stdout, done.image);
    io.stdout.write(`image ${done.image.name} ready (${done.image.variant ?? '?'}, kernel ${done.image.kernel ?? '?'})\n`);
  });

  addCommonOptions(images.command('rm').alias('remove').description('delete an image (sandboxes made from it keep working)').argument('<name>', 'image')).action(
    async (given: string, _o: unknown, cmd: Command) => {
      const name = checkImageName(given);
      await clientFor(cmd, ctx).empty('DELETE', `/v1/images/${encodeURIComponent(name)}`);
      if (wantsJson(cmd)) return printJson(io.stdout, { removed: name });
      io.stdout.write(`removed image ${name}\n`);
    },
  );
}
