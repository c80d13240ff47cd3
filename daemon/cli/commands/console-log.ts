/**
 * `hob console-log [NAME]`: the end of a sandbox's serial console (kernel messages, the
 * boot, a panic), also of a stopped sandbox's last boot. What the guest wrote is escaped
 * for the terminal line by line (`--raw` writes the bytes as they are).
 */
import type { Command } from 'commander';
import { ConsoleLogObject } from '../../wire/console-log.js';
import { readLimited } from '../client.js';
import { addCommonOptions, clientFor, sandboxName, sandboxPath, wantsJson, type CliContext } from '../context.js';
import { printJson, terminalSafe } from '../output.js';
import { parseSizeOption } from '../units.js';
import { UsageError } from '../errors.js';
import { CONSOLE_TAIL_MAX } from '../../wire/console-log.js';

/** Guest text made safe for a terminal, keeping its lines: each line escaped, a trailing CR dropped. */
export function consoleSafe(text: string): string {
  return text
    .split('\n')
    .map((line) => terminalSafe(line.replace(/\r+$/, '')))
    .join('\n');
}

export function registerConsoleLogCommand(program: Command, ctx: CliContext): void {
  const { io } = ctx;
  addCommonOptions(
    program
      .command('console-log')
      .description("show the end of a sandbox's serial console log (also of a stopped one's last boot)")
      .argument('[name]', 'sandbox (default: from .hob)')
      .option('-c, --bytes <size>', 'how much of the end to show: bytes, or with a unit (at most 1M)', '64K')
      .option('--raw', 'write the bytes as the guest wrote them (escape sequences included)')
      .option('-f, --follow', 'keep printing new output until interrupted'),
  ).action(async (given: string | undefined, o: { bytes: string; raw?: boolean; follow?: boolean }, cmd: Command) => {
    const name = await sandboxName(given, ctx);
    // A plain number is bytes, as for tail -c.
    const tail = /^\d{1,9}$/.test(o.bytes) ? Number(o.bytes) : parseSizeOption(o.bytes, '--bytes');
    if (tail < 1) throw new UsageError('--bytes: at least 1');
    if (tail > CONSOLE_TAIL_MAX) throw new UsageError(`--bytes: at most 1M (got "${o.bytes}")`);
    const client = clientFor(cmd, ctx);
    const path = sandboxPath(name, '/console-log');
    const query = { tail: String(tail), follow: o.follow ? true : undefined };
    if (o.follow) {
      if (wantsJson(cmd)) throw new UsageError('--follow prints text: leave out --json');
      const res = await client.send('GET', path, { query, headers: { accept: 'text/plain' } });
      let interrupted = false;
      const off = io.onSignal(['SIGINT', 'SIGTERM', 'SIGHUP'], () => {
        interrupted = true;
        res.destroy();
      });
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res as AsyncIterable<Buffer>) io.stdout.write(o.raw ? chunk : consoleSafe(decoder.decode(chunk, { stream: true })));
      } catch (err) {
        if (!interrupted) throw err;
      } finally {
        off();
      }
      return;
    }
    if (wantsJson(cmd)) return printJson(io.stdout, await client.json('GET', path, ConsoleLogObject, { query, headers: { accept: 'application/json' } }));
    const res = await client.send('GET', path, { query, headers: { accept: 'text/plain' } });
    const bytes = await readLimited(res, CONSOLE_TAIL_MAX + 1024);
    if (o.raw) {
      io.stdout.write(bytes);
      return;
    }
    const text = consoleSafe(bytes.toString('utf8'));
    io.stdout.write(text === '' || text.endsWith('\n') ? text : `${text}\n`);
  });
}
