/**
 * hob's version, from package.json: two levels up in the source tree and in
 * the CLI bundle (dist/cli/), three in tsc's output (dist/daemon/cli/).
 */
import { createRequire } from 'node:module';

export function cliVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = require(candidate) as { name?: string; version?: string };
      if (pkg.name === 'hob' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}
