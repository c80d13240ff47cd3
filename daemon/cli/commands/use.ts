/**
 * `hob use NAME`: makes NAME the default sandbox of the current directory
 * (and the directories below it) by writing `./.hob` (JSON, see ../dotfile.ts).
 * `hob use` alone shows the default in effect; `hob use --unset` removes `./.hob`.
 * hobd is not contacted: the sandbox may be created later.
 */
import type { Command } from 'commander';
import { addCommonOptions, wantsJson, type CliContext } from '../context.js';
import { findDefaultSandbox, removeDotfile, writeDotfile } from '../dotfile.js';
import { CliError, UsageError } from '../errors.js';
import { printJson } from '../output.js';
import { checkSandboxName } from '../units.js';

export function registerUseCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('use')
      .description('set the default sandbox for this directory (writes ./.hob)')
      .argument('[name]', 'sandbox; leave out to show the current default')
      .option('--unset', 'remove ./.hob'),
  ).action(async (given: string | undefined, o: { unset?: boolean }, cmd: Command) => {
    const json = wantsJson(cmd);
    if (o.unset) {
      if (given !== undefined) throw new UsageError('--unset takes no sandbox name');
      const removed = await removeDotfile(io.cwd);
      if (json) return printJson(io.stdout, { removed });
      io.stdout.write(removed ? 'removed ./.hob\n' : 'there is no ./.hob here\n');
      return;
    }
    if (given === undefined) {
      const found = await findDefaultSandbox(io.cwd);
      if (json) return printJson(io.stdout, found ? { sandbox: found.name, file: found.file } : { sandbox: null, file: null });
      if (!found) throw new CliError('no default sandbox here: set one with hob use NAME');
      io.stdout.write(`${found.name} (from ${found.file})\n`);
      return;
    }
    const name = checkSandboxName(given);
    const file = await writeDotfile(io.cwd, name);
    if (json) return printJson(io.stdout, { sandbox: name, file });
    io.stdout.write(`${name} is the default sandbox in ${io.cwd} (${file})\n`);
  });
}
