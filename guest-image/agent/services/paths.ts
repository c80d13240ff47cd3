/**
 * Where the supervisor keeps its files. In the guest the root is "/"; the
 * host-side tests run the agent with `--services-root DIR` so that nothing
 * lands in the host's own /etc, /var/log or /run.
 */
import { join } from 'node:path';

export interface ServicePaths {
  /** One `<name>.json` per service definition (persistent, written atomically). */
  readonly definitions: string;
  /** `<name>.log` and its one rotation `<name>.log.1` (persistent, kept after a delete). */
  readonly logs: string;
  /**
   * `<name>.pid` of each running process (tmpfs in the guest: gone after a
   * reboot). Lets a restarted agent end the processes its predecessor left.
   */
  readonly runtime: string;
}

export function servicePaths(root = '/'): ServicePaths {
  return {
    definitions: join(root, 'etc', 'hob', 'services'),
    logs: join(root, 'var', 'log', 'hob', 'services'),
    runtime: join(root, 'run', 'hob', 'services'),
  };
}

export function logFileOf(paths: ServicePaths, name: string): string {
  return join(paths.logs, `${name}.log`);
}
