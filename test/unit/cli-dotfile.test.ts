/** The .hob file: lookup up a real temp directory tree, both file forms, errors naming the file. */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dotfileText, findDefaultSandbox, parseDotfile, removeDotfile, writeDotfile } from '../../daemon/cli/dotfile.js';
import { CliError } from '../../daemon/cli/errors.js';
import { runCli } from '../../daemon/cli/program.js';
import { capturedIo } from '../helpers/cli-io.js';

describe('.hob', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'hob-dotfile-'));
  });
  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('is found in the directory itself or the nearest parent', async () => {
    mkdirSync(join(root, 'a/b/c'), { recursive: true });
    writeFileSync(join(root, '.hob'), dotfileText('outer'));
    writeFileSync(join(root, 'a/.hob'), dotfileText('inner'));
    expect(await findDefaultSandbox(join(root, 'a/b/c'))).toEqual({ name: 'inner', file: join(root, 'a/.hob') });
    expect(await findDefaultSandbox(join(root, 'a'))).toEqual({ name: 'inner', file: join(root, 'a/.hob') });
    expect(await findDefaultSandbox(root)).toEqual({ name: 'outer', file: join(root, '.hob') });
  });

  it('is not found when no directory up to / has one', async () => {
    // /tmp and / are not ours to write; the test relies on them holding no .hob.
    expect(await findDefaultSandbox(root)).toBeUndefined();
  });

  it('reads the JSON form hob use writes, and plain text', () => {
    expect(dotfileText('dev')).toBe('{"sandbox":"dev"}\n');
    expect(parseDotfile('{"sandbox":"dev"}\n', '/x/.hob')).toBe('dev');
    expect(parseDotfile('dev\n', '/x/.hob')).toBe('dev');
  });

  it('names the file when its content is wrong', () => {
    expect(() => parseDotfile('{"sandbox":', '/x/.hob')).toThrow(new CliError('/x/.hob is not valid JSON (expected {"sandbox": "NAME"})'));
    expect(() => parseDotfile('{"name":"dev"}', '/x/.hob')).toThrow(/\/x\/\.hob: expected \{"sandbox": "NAME"\}/);
    expect(() => parseDotfile('Not A Name', '/x/.hob')).toThrow(/\/x\/\.hob does not name a sandbox/);
  });

  it('skips a directory called .hob', async () => {
    mkdirSync(join(root, 'a/.hob'), { recursive: true });
    writeFileSync(join(root, '.hob'), 'outer\n');
    expect((await findDefaultSandbox(join(root, 'a')))?.name).toBe('outer');
  });

  it('is written and removed in the given directory', async () => {
    const file = await writeDotfile(root, 'dev');
    expect(readFileSync(file, 'utf8')).toBe('{"sandbox":"dev"}\n');
    expect(await removeDotfile(root)).toBe(true);
    expect(await removeDotfile(root)).toBe(false);
  });

  it('is managed by hob use', async () => {
    const io = () => capturedIo({ cwd: root });
    const set = io();
    expect(await runCli(['use', 'dev'], set)).toBe(0);
    expect(readFileSync(join(root, '.hob'), 'utf8')).toBe('{"sandbox":"dev"}\n');
    mkdirSync(join(root, 'sub'));
    const show = capturedIo({ cwd: join(root, 'sub') });
    expect(await runCli(['use', '--json'], show)).toBe(0);
    expect(JSON.parse(show.stdoutText())).toEqual({ sandbox: 'dev', file: join(root, '.hob') });
    const bad = io();
    expect(await runCli(['use', 'Dev'], bad)).toBe(2);
    expect(bad.stderrText()).toMatch(/^hob: invalid sandbox name "Dev"/);
    const unset = io();
    expect(await runCli(['use', '--unset'], unset)).toBe(0);
    const none = io();
    expect(await runCli(['use'], none)).toBe(1);
    expect(none.stderrText()).toBe('hob: no default sandbox here: set one with hob use NAME\n');
  });
});
