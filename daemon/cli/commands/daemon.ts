/**
 * `hob daemon [--config PATH]`: runs hobd in the foreground (what the systemd
 * unit runs). hobd's module is loaded only here, so the other commands do not
 * pay for loading the daemon (database, drivers, storage).
 */
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError } from '../errors.js';

export function registerDaemonCommand(program: Command, _ctx: CliContext): void {
  program
    .command('daemon')
    .description('run hobd in the foreground (until SIGTERM or Ctrl+C)')
    .option('--config <path>', 'configuration file (default $HOB_CONFIG or /etc/hob/config.yaml)')
    .action(async (o: { config?: string }) => {
      const { runDaemon } = await import('../../hobd.js');
      try {
        await runDaemon(o.config !== undefined ? { configPath: o.config } : {});
      } catch (err) {
        // hobd's own errors (bad config, pool, socket in use) are reported as they are.
        throw new CliError(err instanceof Error ? err.message : String(err), 1, { cause: err });
      }
    });
}
