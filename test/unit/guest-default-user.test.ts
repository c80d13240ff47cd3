/**
 * The guest agent's default user (guest-image/agent/default-user.ts): the file
 * is guest content, so anything odd in it means root, never a hang or a throw.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_USER_FILE, readDefaultUser, resolveExecUser, setDefaultUserFile } from '../../guest-image/agent/default-user.js';

let dir: string;
let passwd: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hob-default-user-'));
  passwd = join(dir, 'passwd');
  writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\nhob:x:1000:1000:hob:/home/hob:/bin/bash\n');
});
afterAll(() => {
  setDefaultUserFile(DEFAULT_USER_FILE);
  rmSync(dir, { recursive: true, force: true });
});

function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('readDefaultUser', () => {
  it('reads a name or a uid, trimmed', () => {
    expect(readDefaultUser(file('name', 'hob\n'))).toBe('hob');
    expect(readDefaultUser(file('uid', ' 1000 \n'))).toBe('1000');
  });

  it('is undefined for no file, a directory, a FIFO, junk, several words and a huge file', () => {
    expect(readDefaultUser(join(dir, 'missing'))).toBeUndefined();
    expect(readDefaultUser(undefined)).toBeUndefined();
    mkdirSync(join(dir, 'adir'));
    expect(readDefaultUser(join(dir, 'adir'))).toBeUndefined();
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    expect(readDefaultUser(fifo)).toBeUndefined(); // returns at once: the open does not wait for a writer
    symlinkSync(fifo, join(dir, 'to-fifo'));
    expect(readDefaultUser(join(dir, 'to-fifo'))).toBeUndefined();
    expect(readDefaultUser(file('binary', Buffer.from([0xff, 0xfe, 0x00, 0x41])))).toBeUndefined();
    expect(readDefaultUser(file('words', 'hob root\n'))).toBeUndefined();
    expect(readDefaultUser(file('colon', 'hob:x\n'))).toBeUndefined();
    expect(readDefaultUser(file('empty', ''))).toBeUndefined();
    expect(readDefaultUser(file('huge', 'a'.repeat(1 << 20)))).toBeUndefined();
    expect(readDefaultUser(file('long-name', `${'a'.repeat(40)}\n`))).toBeUndefined();
  });
});

describe('resolveExecUser', () => {
  it('takes the requested user over the default, and the default over root', async () => {
    setDefaultUserFile(file('dev', 'hob\n'));
    expect((await resolveExecUser(undefined, passwd)).name).toBe('hob');
    expect((await resolveExecUser('root', passwd)).uid).toBe(0);
    expect((await resolveExecUser('0', passwd)).uid).toBe(0);
  });

  it('falls back to root for a default user missing from /etc/passwd or a garbage file', async () => {
    setDefaultUserFile(file('gone', 'nosuchuser\n'));
    expect(await resolveExecUser(undefined, passwd)).toMatchObject({ name: 'root', uid: 0 });
    setDefaultUserFile(file('junk', '\u0000\u0001garbage\n'.repeat(50)));
    expect(await resolveExecUser(undefined, passwd)).toMatchObject({ name: 'root', uid: 0 });
    setDefaultUserFile(undefined);
    expect(await resolveExecUser(undefined, passwd)).toMatchObject({ name: 'root', uid: 0 });
  });

  it('still refuses an unknown requested user', async () => {
    setDefaultUserFile(file('dev2', 'hob\n'));
    await expect(resolveExecUser('nosuchuser', passwd)).rejects.toMatchObject({ code: 'ENOUSER' });
  });
});
