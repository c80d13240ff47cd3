/**
 * Who an exec runs as. The guest has no NSS daemons, so /etc/passwd is the
 * whole truth. Read synchronously, like the lookups in command.ts: a small
 * local file, cheaper than a thread-pool round trip.
 */
import { readFileSync } from 'node:fs';
import { ENOUSER, OpError } from './errors.js';

export interface GuestUser {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly home: string;
  readonly shell: string;
  /** Whether the user has an /etc/passwd entry (needed to load its supplementary groups). */
  readonly known: boolean;
}

const ROOT: GuestUser = { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh', known: true };

/** Resolves a user name or numeric uid; undefined means root. Throws OpError(ENOUSER) for an unknown name. */
export async function resolveUser(spec: string | undefined, passwdPath = '/etc/passwd'): Promise<GuestUser> {
  const entries = readPasswd(passwdPath);
  if (spec === undefined || spec === '') return entries.find((e) => e.uid === 0) ?? ROOT;
  if (/^\d+$/.test(spec)) {
    const uid = Number(spec);
    return entries.find((e) => e.uid === uid) ?? { name: spec, uid, gid: uid, home: '/', shell: '/bin/sh', known: false };
  }
  const found = entries.find((e) => e.name === spec);
  if (!found) throw new OpError(ENOUSER, `no such user: ${spec}`);
  return found;
}

function readPasswd(path: string): GuestUser[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const users: GuestUser[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) continue;
    users.push({ name: f[0] as string, uid, gid, home: f[5] || '/', shell: f[6] || '/bin/sh', known: true });
  }
  return users;
}
