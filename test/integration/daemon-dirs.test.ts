/**
 * hobd's run dir and state dir (daemon/daemon-dirs.ts): their modes whatever
 * the umask, and what that means for the two kinds of local users: a member
 * of the socket's group reaches the API socket; anyone else reaches neither
 * the socket nor the data (the state dir cannot be listed, the database cannot
 * be read). The users are real uids switched to with setpriv; the database and
 * the API server are hobd's own (db/open.ts, api/server.ts).
 *
 * Needs root (setpriv to another uid, chown of the socket) and a group other
 * than root's to own the socket (`users`, present on Debian and Ubuntu).
 */
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../daemon/api/app.js';
import { groupId, serveApi, type ApiServers } from '../../daemon/api/server.js';
import { TokenStore } from '../../daemon/auth/tokens.js';
import { SessionRegistry } from '../../daemon/core/sessions.js';
import { prepareDaemonDirs } from '../../daemon/daemon-dirs.js';
import { closeDatabase, openDatabase, type HobDb } from '../../daemon/db/open.js';
import { restrictVmRunDirs } from '../../daemon/vmm/run-dir.js';
import { noSandboxService } from '../helpers/no-sandboxes.js';

const GROUP = 'users';
const gid = groupId(GROUP);
const why =
  process.getuid?.() !== 0 ? 'needs root (setpriv, chown)' : gid === undefined ? `needs the group ${GROUP} in /etc/group` : !existsSync('/usr/bin/setpriv') ? 'needs setpriv (util-linux)' : null;
if (why) console.warn(`daemon dirs test skipped: ${why}`);

/** The mode bits of a path. */
async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o7777;
}

/** Runs `argv` as uid/gid 4242, with `groups` as its supplementary groups. */
function asUser(groups: number[], argv: string[]) {
  const groupArgs = groups.length > 0 ? [`--groups=${groups.join(',')}`] : ['--clear-groups'];
  return execa('setpriv', ['--reuid=4242', '--regid=4242', ...groupArgs, ...argv], { reject: false, env: { HOME: '/tmp' } });
}

/** A GET /healthz over the unix socket from a node process: prints the status or the error code. */
const HEALTH = `require('node:http').get({ socketPath: process.argv[1], path: '/healthz' }, (r) => { console.log(r.statusCode); r.resume(); }).on('error', (e) => { console.log(e.code); });`;

describe.skipIf(why !== null)(`hobd's directories${why ? ` [skipped: ${why}]` : ''}`, () => {
  let root: string;
  const savedUmask = process.umask();
  beforeAll(async () => {
    root = await mkdtemp('/tmp/hob-dirs-');
    // Others must be able to reach the directories under test, as they reach /run and /var/lib.
    await chmod(root, 0o755);
  });
  afterAll(async () => {
    process.umask(savedUmask);
    await rm(root, { recursive: true, force: true });
  });

  it('creates the run dir 0755 (parents too) and the state dir 0711 even under umask 077', async () => {
    process.umask(0o077);
    try {
      await prepareDaemonDirs({ runDir: join(root, 'fresh/run/hob'), stateDir: join(root, 'fresh/lib/hob') });
    } finally {
      process.umask(savedUmask);
    }
    expect((await modeOf(join(root, 'fresh/run/hob'))).toString(8)).toBe('755');
    expect((await modeOf(join(root, 'fresh/run'))).toString(8)).toBe('755');
    expect((await modeOf(join(root, 'fresh/lib/hob'))).toString(8)).toBe('711');
  });

  it('closes an existing state dir to 0711 and opens an existing run dir for traversal only', async () => {
    const runDir = join(root, 'old/run');
    const stateDir = join(root, 'old/state');
    const sticky = join(root, 'old/tmp');
    await mkdir(runDir, { recursive: true });
    await mkdir(stateDir, { recursive: true });
    await mkdir(sticky, { recursive: true });
    await chmod(runDir, 0o700);
    await chmod(stateDir, 0o755);
    await chmod(sticky, 0o1777);
    await prepareDaemonDirs({ runDir, stateDir });
    expect((await modeOf(runDir)).toString(8)).toBe('711');
    expect((await modeOf(stateDir)).toString(8)).toBe('711');
    // A run dir that is already open keeps its mode (a `runDir: /tmp` keeps its sticky bit).
    await prepareDaemonDirs({ runDir: sticky, stateDir });
    expect((await modeOf(sticky)).toString(8)).toBe('1777');
  });

  it("closes the VMs' run dirs an older hob left open (0755 dirs, 0644 console logs)", async () => {
    const runDir = join(root, 'vmruns/run');
    await prepareDaemonDirs({ runDir, stateDir: join(root, 'vmruns/state') });
    const vmDir = join(runDir, 'vms', 'sb1');
    await mkdir(vmDir, { recursive: true, mode: 0o755 });
    await chmod(join(runDir, 'vms'), 0o755);
    await chmod(vmDir, 0o755);
    await writeFile(join(vmDir, 'console.log'), 'guest output', { mode: 0o644 });
    await chmod(join(vmDir, 'console.log'), 0o644);
    expect((await asUser([], ['cat', join(vmDir, 'console.log')])).stdout).toBe('guest output'); // the finding
    await restrictVmRunDirs(join(runDir, 'vms'));
    expect((await modeOf(join(runDir, 'vms'))).toString(8)).toBe('700');
    expect((await modeOf(vmDir)).toString(8)).toBe('700');
    expect((await modeOf(join(vmDir, 'console.log'))).toString(8)).toBe('600');
    for (const groups of [[], [gid!]]) {
      const read = await asUser(groups, ['cat', join(vmDir, 'console.log')]);
      expect(read.stderr).toContain('Permission denied');
      expect((await asUser(groups, ['ls', join(runDir, 'vms')])).stderr).toContain('Permission denied');
    }
    // The run dir itself stays open for traversal: the API socket lives there.
    expect((await modeOf(runDir)).toString(8)).toBe('755');
  });

  describe('with the database and the API socket in them', () => {
    const runDir = (): string => join(root, 'live/run');
    const stateDir = (): string => join(root, 'live/state');
    let db: HobDb;
    let servers: ApiServers | undefined;
    beforeAll(async () => {
      await prepareDaemonDirs({ runDir: runDir(), stateDir: stateDir() });
      db = openDatabase(join(stateDir(), 'hob.db'));
      const api = createApi({ sandboxes: noSandboxService(), sessions: new SessionRegistry(), tokens: new TokenStore(db), port: 0, version: '0.0.0-test' });
      servers = await serveApi(api, { socketPath: join(runDir(), 'hob.sock'), socketGroup: GROUP });
    });
    afterAll(async () => {
      await servers?.close();
      if (db) closeDatabase(db);
    });

    it('lets a member of the group use the API socket', async () => {
      const member = await asUser([gid!], [process.execPath, '-e', HEALTH, join(runDir(), 'hob.sock')]);
      expect(member.stdout.trim(), member.stderr).toBe('200');
    });

    it('keeps everyone else out of the socket, the state dir and the database', async () => {
      const stranger = await asUser([], [process.execPath, '-e', HEALTH, join(runDir(), 'hob.sock')]);
      expect(stranger.stdout.trim(), stranger.stderr).toBe('EACCES');
      for (const groups of [[], [gid!]]) {
        const list = await asUser(groups, ['ls', stateDir()]);
        expect(list.exitCode).not.toBe(0);
        expect(list.stderr).toContain('Permission denied');
        const read = await asUser(groups, ['cat', join(stateDir(), 'hob.db')]);
        expect(read.exitCode).not.toBe(0);
        expect(read.stderr).toContain('Permission denied');
      }
      expect((await modeOf(join(stateDir(), 'hob.db'))).toString(8)).toBe('600');
    });
  });
});
