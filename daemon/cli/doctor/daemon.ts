/**
 * Checks of hob itself: the configuration file loads, hobd answers, the
 * socket's group lets its members in without sudo.
 */
import { readFile, stat } from 'node:fs/promises';
import * as z from 'zod';
import { DEFAULT_CONFIG_PATH, loadConfig, type HobConfig } from '../../config.js';
import { HobClient, describeTarget } from '../client.js';
import { ConnectionError } from '../errors.js';
import { check, type Check, type DoctorContext } from './types.js';

/** `config`: loads hobd's configuration the way hobd does. */
export async function checkConfig(
  env: Readonly<Record<string, string | undefined>>,
  path?: string,
): Promise<{ check: Check; config: HobConfig | undefined }> {
  try {
    const config = await loadConfig({ ...(path !== undefined ? { path } : {}), env });
    const detail = config.source
      ? `${config.source}: state ${config.stateDir}, socket ${config.api.socketPath}`
      : `no ${env.HOB_CONFIG ?? DEFAULT_CONFIG_PATH}: defaults apply (state ${config.stateDir}, socket ${config.api.socketPath})`;
    return { check: check('config', 'ok', detail), config };
  } catch (err) {
    return { check: check('config', 'fail', (err as Error).message, 'fix the file (every key is documented in daemon/config.ts)'), config: undefined };
  }
}

const Health = z.looseObject({ status: z.string(), version: z.string().optional() });

/** Whether hobd answered, for the checks after this one. */
export interface DaemonFacts {
  readonly client: HobClient | undefined;
}

/** `daemon`: hobd answers GET /healthz at the target. */
export async function checkDaemon(ctx: DoctorContext): Promise<{ check: Check; facts: DaemonFacts }> {
  const client = new HobClient(ctx.target);
  const where = describeTarget(ctx.target);
  try {
    const health = await client.json('GET', '/healthz', Health);
    const socketNote = ctx.target.kind === 'unix' ? await socketPermissions(ctx.target.socketPath, ctx.config?.api.socketGroup ?? 'hob') : undefined;
    const detail = `hobd ${health.version ?? '(version unknown)'} answers on ${where}`;
    if (socketNote) return { check: check('daemon', 'warn', `${detail}; ${socketNote.detail}`, socketNote.fix), facts: { client } };
    return { check: check('daemon', 'ok', detail), facts: { client } };
  } catch (err) {
    if (err instanceof ConnectionError && err.reason === 'permission') {
      const group = ctx.config?.api.socketGroup ?? 'hob';
      return {
        check: check('daemon', 'fail', `no permission to use ${where}`, `add yourself to the group ${group} (sudo usermod -aG ${group} "$USER"), then log in again; or use sudo`),
        facts: { client: undefined },
      };
    }
    if (err instanceof ConnectionError && err.reason === 'not-running') {
      return {
        check: check('daemon', 'fail', `hobd is not running (nothing answers on ${where})`, 'systemctl start hobd (installed by install.sh), or run `sudo hob daemon` in a terminal; `journalctl -u hobd` shows why it stopped'),
        facts: { client: undefined },
      };
    }
    return { check: check('daemon', 'fail', `hobd does not answer on ${where}: ${(err as Error).message}`, 'restart it: systemctl restart hobd'), facts: { client: undefined } };
  }
}

/** A group from /etc/group: gid and members, or undefined. */
export async function readGroup(name: string, groupFile = '/etc/group'): Promise<{ gid: number; members: string[] } | undefined> {
  const text = await readFile(groupFile, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [group, , gid, members] = line.split(':');
    if (group === name && gid !== undefined && /^\d+$/.test(gid)) {
      return { gid: Number(gid), members: (members ?? '').split(',').filter((m) => m !== '') };
    }
  }
  return undefined;
}

/** A note when the socket is not group-accessible as api/server.ts sets it (root:<group>, 0660). */
async function socketPermissions(path: string, groupName: string): Promise<{ detail: string; fix: string } | undefined> {
  const group = await readGroup(groupName);
  const st = await stat(path).catch(() => undefined);
  if (!group || !st) return undefined; // the group check reports a missing group
  const mode = st.mode & 0o777;
  if (st.gid === group.gid && mode === 0o660) return undefined;
  return {
    detail: `${path} is gid ${st.gid} mode ${mode.toString(8)}, not group ${groupName} mode 660, so members of ${groupName} cannot use it`,
    fix: 'restart hobd (it sets the socket group when it starts and the group exists)',
  };
}

/** `group`: the socket's group exists, so that its members can use hob without sudo. */
export async function checkGroup(ctx: DoctorContext): Promise<Check> {
  const name = ctx.config?.api.socketGroup ?? 'hob';
  const group = await readGroup(name);
  if (!group) {
    return check('group', 'warn', `group ${name} does not exist: only root can use the hob socket`, `groupadd --system ${name} && systemctl restart hobd (install.sh does both), then usermod -aG ${name} USER`);
  }
  const members = group.members.length > 0 ? `members: ${group.members.join(', ')}` : 'no members yet';
  return check('group', 'ok', `group ${name} (gid ${group.gid}) may use the socket without sudo; ${members}`);
}
