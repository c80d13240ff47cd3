/**
 * `hob diff` engine speed (issue 12 finding 4): the ext4 image diff on a tree
 * of ~20k files with a few hundred changes, measured on the storage function
 * the manager calls (diffExt4Images / fileDiffExt4Images), no VM needed.
 *
 * The tree: DIRS directories of FILES_PER_DIR small files, made into an image
 * with `mkfs.ext4 -d`; the newer image is a copy changed with `debugfs -w`
 * (no mount): files rewritten, added, deleted, a new directory, and files whose
 * ctime alone moved (their content is compared). Same images, same code path
 * the daemon uses. HOB_DIFF_BEFORE adds an older engine to compare with (see benchDiff).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import * as ext4 from '../daemon/storage/ext4-diff.js';
import { median, time, type Record } from './measure.js';

const DIRS = 200;
const FILES_PER_DIR = 100;
const RUNS = 7;

/** Builds the two images under `dir`; returns their paths and the number of changes expected. */
export async function makeDiffImages(dir: string): Promise<{ older: string; newer: string }> {
  const tree = join(dir, 'tree');
  for (let d = 0; d < DIRS; d++) {
    const sub = join(tree, 'srv', `d${d}`);
    await mkdir(sub, { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) await writeFile(join(sub, `f${f}.txt`), `dir ${d} file ${f}\n`.repeat(1 + (f % 7)));
  }
  const older = join(dir, 'older.img');
  const newer = join(dir, 'newer.img');
  await execa('mkfs.ext4', ['-q', '-d', tree, older, '256M']);
  await execa('cp', ['--reflink=auto', older, newer]);
  const src = join(dir, 'new-content.txt');
  await writeFile(src, 'new content\n');
  const cmds: string[] = ['mkdir /srv/fresh'];
  for (let i = 0; i < 100; i++) cmds.push(`rm /srv/d${i}/f1.txt`, `write ${src} /srv/d${i}/f1.txt`); // modified
  for (let i = 0; i < 100; i++) cmds.push(`write ${src} /srv/d${i}/added.txt`); // added
  for (let i = 0; i < 100; i++) cmds.push(`rm /srv/d${100 + i}/f2.txt`); // deleted
  for (let i = 0; i < 50; i++) cmds.push(`write ${src} /srv/fresh/n${i}.txt`); // added under an added directory
  for (let i = 0; i < 50; i++) cmds.push(`sif /srv/d${i}/f3.txt ctime 20300101000000`); // ctime only: content compared, unchanged
  const cmdFile = join(dir, 'cmds');
  await writeFile(cmdFile, `${cmds.join('\n')}\n`);
  await execa('debugfs', ['-w', '-f', cmdFile, newer]);
  return { older, newer };
}

/** The engine's two entry points, as the old (loop-mount) and the new module both export them. */
interface Engine {
  diffExt4Images(older: string, newer: string, opts: { scratchDir: string }): Promise<unknown>;
  fileDiffExt4Images(older: string, newer: string, path: string, opts: { scratchDir: string }): Promise<string>;
}

/**
 * This tree's engine compiled to JavaScript the way `npm run build` does, so
 * that its reader process starts without the TypeScript loader (as installed).
 * Output under node_modules/.cache, where the engine's imports resolve.
 */
async function compiledEngine(): Promise<Engine> {
  const repo = join(import.meta.dirname, '..');
  const out = join(repo, 'node_modules', '.cache', 'hob-bench-diff');
  await rm(out, { recursive: true, force: true });
  await execa('npx', ['tsc', '--outDir', out, '--rootDir', repo, '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext',
    '--skipLibCheck', '--types', 'node', '--noCheck', join(repo, 'daemon/storage/ext4-diff.ts'), join(repo, 'daemon/storage/ext4/reader-main.ts')], { cwd: repo });
  return (await import(join(out, 'daemon/storage/ext4-diff.js'))) as Engine;
}

/**
 * Times every engine on the same images, interleaved run by run (the machine
 * is shared: side by side is fairer than one after the other):
 * - this tree's engine from source (what tests and `npm run bench` run, the
 *   reader under the TypeScript loader) and compiled (as installed);
 * - with HOB_DIFF_BEFORE=<path of an older daemon/storage/ext4-diff.ts>, that
 *   engine too (e.g. the loop-mount one from `git worktree add`), and the ratios.
 */
export async function benchDiff(record: Record): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-bench-diff-'));
  try {
    const { older, newer } = await makeDiffImages(dir);
    const scratchDir = join(dir, 'scratch');
    const engines: [string, Engine][] = [['source', ext4], ['compiled', await compiledEngine()]];
    const before = process.env.HOB_DIFF_BEFORE;
    if (before) engines.unshift(['before', (await import(before)) as Engine]);
    const count = (r: unknown): number => (Array.isArray(r) ? r.length : (r as { entries: unknown[] }).entries.length);
    const changes = new Set<number>();
    for (const [, e] of engines) changes.add(count(await e.diffExt4Images(older, newer, { scratchDir })));
    if (changes.size !== 1) throw new Error(`the engines disagree on the number of changes: ${[...changes].join(', ')}`);
    const tree: Map<string, number[]> = new Map();
    const file: Map<string, number[]> = new Map();
    for (let i = 0; i < RUNS; i++) {
      for (const [name, e] of engines) {
        tree.set(name, [...(tree.get(name) ?? []), (await time(() => e.diffExt4Images(older, newer, { scratchDir })))[0]]);
        file.set(name, [...(file.get(name) ?? []), (await time(() => e.fileDiffExt4Images(older, newer, '/srv/d0/f1.txt', { scratchDir })))[0]]);
      }
    }
    const n = [...changes][0];
    for (const [name] of engines) {
      record(`hob diff engine (${name}), ${DIRS * FILES_PER_DIR} files, ${n} changes, median of ${RUNS}`, median(tree.get(name) ?? []), 'ms');
      record(`hob diff -- FILE engine (${name}), median of ${RUNS}`, median(file.get(name) ?? []), 'ms');
    }
    if (before) {
      for (const name of ['source', 'compiled']) {
        record(`hob diff, ${name} / before`, median(tree.get(name) ?? []) / median(tree.get('before') ?? []), 'ratio', 'user-space reader vs loop mounts, same tree, same run');
        record(`hob diff -- FILE, ${name} / before`, median(file.get(name) ?? []) / median(file.get('before') ?? []), 'ratio');
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
