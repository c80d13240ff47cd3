/**
 * Warm templates (docs/architecture.md §17): `hob templates ls | build | rm`. hobd builds one
 * per image by itself (after an import, at start); creates of the template's shape resume it.
 */
import type { Command } from 'commander';
import { addCommonOptions, clientFor, wantsJson, type CliContext } from '../context.js';
import { formatBytes, formatSince, formatTable, printJson } from '../output.js';
import { TemplateList, type TemplateObject } from '../schemas.js';
import { checkImageName } from '../units.js';

export function templateTable(templates: readonly TemplateObject[], now: Date = new Date()): string {
  return formatTable(
    ['IMAGE', 'STATE', 'CPUS', 'MEMORY', 'DISK', 'RAM', 'BUILT', 'BOOT', 'SPARE', 'DETAIL'],
    templates.map((t) => [
      t.image, t.state, t.cpus === null ? '-' : String(t.cpus), t.memory_mib === null ? '-' : formatBytes(t.memory_mib * 1024 ** 2),
      t.disk_bytes === null ? '-' : formatBytes(t.disk_bytes), t.memory_mode ?? '-', t.built_at === null ? '-' : formatSince(t.built_at, now),
      t.boot_ms === null ? '-' : `${(t.boot_ms / 1000).toFixed(1)} s`, t.spare ?? '-', (t.detail ?? '-').split('\n')[0] ?? '-',
    ]),
  );
}

export function registerTemplateCommands(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  const templates = program.command('templates').alias('template').description('list, build and remove warm templates (creates resume them instead of booting)');

  addCommonOptions(templates.command('ls').alias('list').description('list templates')).action(async (_o: unknown, cmd: Command) => {
    const res = await clientFor(cmd, ctx).json('GET', '/v1/templates', TemplateList);
    if (wantsJson(cmd)) return printJson(io.stdout, res.templates);
    io.stdout.write(res.templates.length === 0 ? 'no templates\n' : templateTable(res.templates));
  });

  addCommonOptions(templates.command('build').description('build the template of an image in the background (if it has no current one)').argument('<image>', 'image')).action(
    async (given: string, _o: unknown, cmd: Command) => {
      const image = checkImageName(given);
      await clientFor(cmd, ctx).empty('POST', `/v1/templates/${encodeURIComponent(image)}`);
      if (wantsJson(cmd)) return printJson(io.stdout, { queued: image });
      io.stdout.write(`building the template of ${image} in the background; follow it with: hob templates ls\n`);
    },
  );

  addCommonOptions(templates.command('rm').alias('remove').description('delete the template of an image (creates boot until it is built again)').argument('<image>', 'image')).action(
    async (given: string, _o: unknown, cmd: Command) => {
      const image = checkImageName(given);
      await clientFor(cmd, ctx).empty('DELETE', `/v1/templates/${encodeURIComponent(image)}`);
      if (wantsJson(cmd)) return printJson(io.stdout, { removed: image });
      io.stdout.write(`removed the template of ${image}\n`);
    },
  );
}
