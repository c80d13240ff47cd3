import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, join } from 'node:path';

/** Where install.sh puts the pinned static cloud-hypervisor release. */
export const CH_INSTALL_PATH = '/usr/local/lib/hob/cloud-hypervisor';

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

/**
 * Finds the cloud-hypervisor binary: $HOB_CH_BINARY if set (used as is, even if missing, so a
 * wrong setting is reported rather than silently replaced), else CH_INSTALL_PATH, else
 * `cloud-hypervisor` on $PATH. Returns null when none is found.
 */
export async function findChBinary(env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  const forced = env.HOB_CH_BINARY;
  if (forced) return (await isExecutable(forced)) ? forced : null;
  if (await isExecutable(CH_INSTALL_PATH)) return CH_INSTALL_PATH;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, 'cloud-hypervisor');
    if (await isExecutable(p)) return p;
  }
  return null;
}

/** Human description of where the binary was looked for (for error messages and hob doctor). */
export function chBinarySearchDescription(env: NodeJS.ProcessEnv = process.env): string {
  return env.HOB_CH_BINARY ? `HOB_CH_BINARY=${env.HOB_CH_BINARY}` : `${CH_INSTALL_PATH} or cloud-hypervisor on PATH`;
}
