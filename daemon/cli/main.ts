/**
 * Entry of the `hob` command: dist/cli/cli.js in the bundle daemon/cli/bundle.mjs
 * makes of it, which package.json's bin (dist/cli/hob.js, the loader) runs; in
 * the source tree: node --import tsx daemon/cli/main.ts. Runs the command
 * line, lets stdout and stderr drain, and exits with the command's code.
 */
import { runCli } from './program.js';

// No top-level await: the bundle is CommonJS (daemon/cli/bundle.mjs).
void runCli(process.argv.slice(2)).then(async (code) => {
  // Exit explicitly: an idle keep-alive socket or a paused stdin must not keep
  // hob alive; but first let buffered output reach a pipe.
  await Promise.all([drain(process.stdout), drain(process.stderr)]);
  process.exit(code);
});

function drain(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.writableLength === 0 || stream.destroyed) resolve();
    else stream.write('', () => resolve());
  });
}
