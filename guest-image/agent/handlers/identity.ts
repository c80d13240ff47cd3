/**
 * identity.set (docs/architecture.md §27): the guest takes its own hostname and machine-id
 * after a resume from another guest's memory (a warm template, a live fork), and new ssh host
 * keys if it has any. Without a process start where it can: under emulation each start costs
 * hundreds of milliseconds on the way to a running sandbox. The kernel's hostname is written
 * through /proc, as the guest's init does at boot; the files are replaced atomically
 * (atomic-file.ts), in the formats init writes. Only served in the guest (main.ts): on a host
 * it would rename the host.
 */
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { writeFileAtomic } from '../atomic-file.js';
import { OpError } from '../errors.js';
import { syncDir } from './fs-write.js';

const ETC = '/etc';
const SSH_DIR = '/etc/ssh';
/** The line init keeps in /etc/hosts for the hostname (guest-image rootfs/opt/hob/init); sudo resolves the name through it. */
const HOSTS_MARK = ' # hob';
/** /etc/hosts is read whole; a larger one is left as it is, without our line. */
const MAX_HOSTS_BYTES = 1024 * 1024;
const SSH_KEYGEN_TIMEOUT_MS = 120_000;

/**
 * Not fsynced (six flushes were a third of the op under TCG): the guest's init writes the same
 * three files from the kernel command line at every boot, which carries the sandbox's name and
 * machine-id, and a machine-id found changed there renews the ssh host keys again. A crash that
 * loses these writes therefore loses nothing.
 */
const IDENTITY_FILE = { durable: false };

export async function identitySet(req: RequestOf<'identity.set'>): Promise<ResultOf<'identity.set'>> {
  await writeFileAtomic(join(ETC, 'hostname'), `${req.hostname}\n`, 0o644, IDENTITY_FILE);
  const hosts = await readHosts();
  if (hosts !== undefined) await writeFileAtomic(join(ETC, 'hosts'), hostsWith(hosts, req.hostname), 0o644, IDENTITY_FILE);
  await writeFileAtomic(join(ETC, 'machine-id'), `${req.machineId}\n`, 0o444, IDENTITY_FILE);
  await writeFile('/proc/sys/kernel/hostname', req.hostname);
  return { sshHostKeys: await renewSshHostKeys() };
}

/** /etc/hosts without our old line, with the new one at the end. */
function hostsWith(current: string, hostname: string): string {
  const kept = current.split('\n').filter((line) => line !== '' && !line.endsWith(HOSTS_MARK));
  return `${[...kept, `127.0.1.1 ${hostname}${HOSTS_MARK}`].join('\n')}\n`;
}

/** /etc/hosts, or undefined when it is too large to rewrite. */
async function readHosts(): Promise<string | undefined> {
  const text = await readFile(join(ETC, 'hosts'), 'utf8').catch(() => '127.0.0.1 localhost\n');
  return text.length > MAX_HOSTS_BYTES ? undefined : text;
}

/** Replaces the ssh host keys if the guest has any (a copy must not share its parent's). */
async function renewSshHostKeys(): Promise<boolean> {
  const entries = await readdir(SSH_DIR).catch(() => [] as string[]);
  if (!entries.some((name) => /^ssh_host_.+_key$/.test(name))) return false;
  for (const name of entries.filter((n) => n.startsWith('ssh_host_'))) await rm(join(SSH_DIR, name), { force: true });
  const result = await execa('ssh-keygen', ['-A'], { reject: false, stdin: 'ignore', timeout: SSH_KEYGEN_TIMEOUT_MS });
  if (result.exitCode !== 0) throw new OpError('EIO', `ssh-keygen -A: ${String(result.stderr).trim().slice(0, 500) || `exit ${String(result.exitCode)}`}`);
  await syncDir(SSH_DIR);
  return true;
}
