/**
 * `hob diff` engine speed (issue 12 finding 4): the ext4 image diff on a tree
 * of ~20k files with a few hundred changes, measured on the storage function
 * the manager calls (diffExt4Images / fileDiffExt4Images), no VM needed.
 *
 * The tree: DIRS directories of FILES_PER_DIR small files, made into an image
 * with `mkfs.ext4 -d`; the newer image is a copy changed with `debugfs -w`
 * (no mount): files rewritten, added, deleted, a new directory, and files whose
 * ctime alone moved (their content is compared). Same images, same code path
 * the daemon uses; the figure before the move to user space was taken by
 * running this file against the old loop-mount code (see the report).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import * as ext4 from '../daemon/storage/ext4-diff.js';
import { median, time, type Record } from './measure.js';

const DIRS = 200;
const FILES_PER_DIR = 100;
const RUNS = 5;

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

export async function benchDiff(record: Record): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-bench-diff-'));
  try {
    const { older, newer } = await makeDiffImages(dir);
    const scratchDir = join(dir, 'scratch');
    const count = (r: unknown): number => (Array.isArray(r) ? r.length : (r as { entries: unknown[] }).entries.length);
    const first = count(await ext4.diffExt4Images(older, newer, { scratchDir }));
    const samples: number[] = [];
    for (let i = 0; i < RUNS; i++) samples.push((await time(() => ext4.diffExt4Images(older, newer, { scratchDir })))[0]);
    record(`hob diff engine, ${DIRS * FILES_PER_DIR} files, ${first} changes, median of ${RUNS}`, median(samples), 'ms');
    const fileSamples: number[] = [];
    for (let i = 0; i < RUNS; i++) fileSamples.push((await time(() => ext4.fileDiffExt4Images(older, newer, '/srv/d0/f1.txt', { scratchDir })))[0]);
    record(`hob diff -- FILE engine, median of ${RUNS}`, median(fileSamples), 'ms');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
