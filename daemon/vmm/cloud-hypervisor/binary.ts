import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';

/** Where install.sh puts the pinned static cloud-hypervisor release. */
export const CH_INSTALL_PATH = '/usr/local/lib/hob/cloud-hypervisor';

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/** `name` looked up in the directories of $PATH, or null. */
async function onPath(name: string, env: NodeJS.ProcessEnv): Promise<string | null> {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (await isExecutable(p)) return p;
  }
  return null;
}

/**
 * Finds the cloud-hypervisor binary, first match wins:
 * 1. $HOB_CH_BINARY (a path, used as is);
 * 2. `configured`, hobd's `vmm.chBinary` setting: an absolute path used as is, or a program
 *    name looked up on $PATH;
 * 3. CH_INSTALL_PATH (install.sh's pinned release);
 * 4. `cloud-hypervisor` on $PATH.
 * An explicit setting (1 or 2) that does not name an executable gives null rather than falling
 * through to the next place: a wrong setting is reported, not silently replaced.
 * Returns null when none is found.
 */
export async function findChBinary(env: NodeJS.ProcessEnv = process.env, configured?: string): Promise<string | null> {
  const forced = env.HOB_CH_BINARY;
  if (forced) return (await isExecutable(forced)) ? forced : null;
  if (configured) return isAbsolute(configured) ? ((await isExecutable(configured)) ? configured : null) : onPath(configured, env);
  if (await isExecutable(CH_INSTALL_PATH)) return CH_INSTALL_PATH;
  return onPath('cloud-hypervisor', env);
}

/** Human description of where findChBinary looked (for error messages and hob doctor). */
export function chBinarySearchDescription(env: NodeJS.ProcessEnv = process.env, configured?: string): string {
  if (env.HOB_CH_BINARY) return `HOB_CH_BINARY=${env.HOB_CH_BINARY}`;
  if (configured) return `vmm.chBinary=${configured}${isAbsolute(configured) ? '' : ' on PATH'}`;
  return `${CH_INSTALL_PATH} or cloud-hypervisor on PATH`;
}
