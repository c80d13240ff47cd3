/** Whether a program is installed: on $PATH, or in the sbin directories a non-login root shell may lack. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function onPath(bin: string): boolean {
  return (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']).some((d) => existsSync(join(d, bin)));
}
