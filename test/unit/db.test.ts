import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, HobError, NotFoundError } from '../../daemon/errors.js';
import {
  appendEvent, claimSpare, closeDatabase, defaultMigrationsFolder, deleteCheckpoint, deleteSandbox, getCheckpoint,
  getSandbox, getSandboxByName, getTokenByHash, hashToken, insertCheckpoint, insertSandbox, insertToken,
  listCheckpoints, listEvents, listNamedEvents, listSandboxes, newId, nextCheckpointSeq, openDatabase, sandboxNameSchema,
  setSandboxState, updateSandbox, type HobDb, type NewSandbox,
} from '../../daemon/db/index.js';

const base: NewSandbox = { name: 'dev', state: 'creating', image: 'dev', cpus: 2, memoryMiB: 2048, diskBytes: 100 * 1024 ** 3, vmm: 'qemu' };

describe('database', () => {
  let dir: string;
  let path: string;
  let db: HobDb;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-db-'));
    path = join(dir, 'state', 'hob.db');
    db = openDatabase(path);
  });
  afterEach(async () => {
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  it('applies the migrations and sets the pragmas', async () => {
    const sqlite = db.$client;
    expect(sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(sqlite.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
    const tables = (sqlite.prepare(`SELECT name FROM sqlite_master WHERE type='table' ORDER BY name`).all() as { name: string }[]).map((r) => r.name);
    expect(tables).toEqual(expect.arrayContaining(['sandboxes', 'checkpoints', 'tokens', 'events', '__drizzle_migrations']));
    const journal = JSON.parse(await readFile(join(defaultMigrationsFolder(), 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect((sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n).toBe(journal.entries.length);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('inserts, reads, lists and updates sandboxes', () => {
    const a = insertSandbox(db, base);
    expect(a.id).toMatch(/^[a-z][a-z0-9]{9}$/);
    expect(a.urlAuth).toBe('private');
    expect(a.labels).toEqual([]);
    expect(a.checkpointSeq).toBe(0);
    expect(a.createdAt).toBeInstanceOf(Date);
    const b = insertSandbox(db, { ...base, name: 'web', labels: ['team-x'], environment: { FOO: 'bar' } });
    expect(getSandbox(db, a.id)?.name).toBe('dev');
    expect(getSandboxByName(db, 'web')?.environment).toEqual({ FOO: 'bar' });
    expect(listSandboxes(db).map((s) => s.name)).toEqual(['dev', 'web']);
    expect(updateSandbox(db, b.id, { urlAuth: 'public', config: { keepAwake: true } }).config).toEqual({ keepAwake: true });
    expect(() => updateSandbox(db, 'nope', { cpus: 1 })).toThrow(NotFoundError);
    expect(getSandbox(db, 'nope')).toBeUndefined();
  });

  it('records every state change as an event, with compare-and-set', () => {
    const s = insertSandbox(db, base);
    const r = setSandboxState(db, s.id, 'running', { from: ['creating'] });
    expect(r.state).toBe('running');
    expect(r.stateSince.getTime()).toBeGreaterThanOrEqual(s.stateSince.getTime());
    expect(() => setSandboxState(db, s.id, 'paused', { from: ['stopped'] })).toThrow(ConflictError);
    expect(getSandbox(db, s.id)?.state).toBe('running');
    const e = setSandboxState(db, s.id, 'error', { error: 'vmm died' });
    expect(e.lastError).toBe('vmm died');
    setSandboxState(db, s.id, 'error'); // unchanged: no event
    expect(() => setSandboxState(db, 'nope', 'running')).toThrow(NotFoundError);
    const evs = listEvents(db, { sandboxId: s.id });
    expect(evs.map((x) => [x.type, x.data])).toEqual([
      ['state', { from: null, to: 'creating' }],
      ['state', { from: 'creating', to: 'running' }],
      ['state', { from: 'running', to: 'error', error: 'vmm died' }],
    ]);
    expect(listEvents(db, { afterId: evs[1]!.id }).map((x) => x.id)).toEqual([evs[2]!.id]);
    const global = appendEvent(db, { type: 'template', data: { image: 'minimal' } });
    expect(global.sandboxId).toBeNull();
  });

  it('enforces the constraints', () => {
    const s = insertSandbox(db, base);
    expect(() => insertSandbox(db, base)).toThrow(ConflictError); // unique name
    expect(() => insertSandbox(db, { ...base, name: 'x2', id: s.id })).toThrow(ConflictError); // unique id
    for (const bad of ['Dev', '-a', 'a-', 'a_b', 'a.b', '', 'x'.repeat(64)]) {
      expect(() => insertSandbox(db, { ...base, name: bad }), bad).toThrow(HobError);
      expect(sandboxNameSchema.safeParse(bad).success, bad).toBe(false);
    }
    expect(sandboxNameSchema.safeParse('a-1').success).toBe(true);
    expect(() => insertSandbox(db, { ...base, name: 'c0', cpus: 0 })).toThrow(/CHECK/);
    expect(() => insertSandbox(db, { ...base, name: 'c1', state: 'flying' as 'running' })).toThrow(/CHECK/);
    const raw = db.$client;
    expect(() => raw.prepare(`INSERT INTO checkpoints (id, sandbox_id, seq, kind, created_at) VALUES ('c', 'missing', 1, 'disk', 0)`).run()).toThrow(/FOREIGN KEY/);
    expect(() => raw.prepare(`UPDATE sandboxes SET labels = 'not json' WHERE id = ?`).run(s.id)).toThrow(/CHECK/);
    expect(() => insertToken(db, { name: 't', hash: 'plain-token' })).toThrow(/CHECK/);
    expect(listSandboxes(db)).toHaveLength(1);
  });

  it('gives checkpoint seqs that are never reused, and cascades deletes', () => {
    const s = insertSandbox(db, base);
    expect(nextCheckpointSeq(db, s.id)).toBe(1);
    const c1 = insertCheckpoint(db, { sandboxId: s.id, kind: 'disk', comment: 'before refactor' });
    const c2 = insertCheckpoint(db, { sandboxId: s.id, kind: 'live', auto: true });
    expect([c1.seq, c2.seq]).toEqual([1, 2]);
    expect(c2.auto).toBe(true);
    expect(getCheckpoint(db, s.id, 'v1')?.id).toBe(c1.id);
    expect(getCheckpoint(db, s.id, c2.id)?.seq).toBe(2);
    expect(deleteCheckpoint(db, c2.id)).toBe(true);
    expect(insertCheckpoint(db, { sandboxId: s.id, kind: 'disk' }).seq).toBe(3);
    expect(() => insertCheckpoint(db, { sandboxId: 'nope', kind: 'disk' })).toThrow(NotFoundError);
    expect(() => insertCheckpoint(db, { sandboxId: s.id, kind: 'disk', id: c1.id })).toThrow(ConflictError);
    expect(nextCheckpointSeq(db, s.id)).toBe(4); // the failed insert did not use a seq
    expect(listCheckpoints(db, s.id).map((c) => c.seq)).toEqual([1, 3]);

    expect(deleteSandbox(db, s.id)).toBe(true);
    expect(deleteSandbox(db, s.id)).toBe(false);
    expect(db.$client.prepare('SELECT count(*) AS n FROM checkpoints').get()).toEqual({ n: 0 });
    expect(listEvents(db, { sandboxId: s.id }).at(-1)?.type).toBe('deleted'); // history stays
  });

  it('stores token hashes only', () => {
    const token = `hob_${newId(32)}`;
    const row = insertToken(db, { name: 'laptop', hash: hashToken(token) });
    expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(getTokenByHash(db, hashToken(token))?.id).toBe(row.id);
    expect(() => insertToken(db, { name: 'laptop', hash: hashToken('other') })).toThrow(ConflictError);
    expect(JSON.stringify(db.$client.prepare('SELECT * FROM tokens').all())).not.toContain(token);
  });

  it('keeps committed data across close and reopen', () => {
    const s = insertSandbox(db, { ...base, labels: ['a-b'] });
    insertCheckpoint(db, { sandboxId: s.id, kind: 'disk' });
    closeDatabase(db);
    db = openDatabase(path);
    expect(getSandbox(db, s.id)?.labels).toEqual(['a-b']);
    expect(listCheckpoints(db, s.id)).toHaveLength(1);
    expect(nextCheckpointSeq(db, s.id)).toBe(2);
  });

  it('keeps committed data when hobd is killed without closing (SIGKILL, WAL not checkpointed)', async () => {
    closeDatabase(db);
    const script = join(dir, 'crash.ts');
    const dbModule = pathToFileURL(join(process.cwd(), 'daemon', 'db', 'index.ts')).href;
    await writeFile(script, [
      `import { openDatabase, insertSandbox } from ${JSON.stringify(dbModule)};`,
      `const db = openDatabase(${JSON.stringify(path)});`,
      `const s = insertSandbox(db, ${JSON.stringify({ ...base, name: 'survivor' })});`,
      `console.log(s.id);`,
      `process.kill(process.pid, 'SIGKILL');`,
    ].join('\n'));
    const r = await execa(process.execPath, ['--import', 'tsx', script], { reject: false, cwd: process.cwd() });
    expect(r.signal).toBe('SIGKILL');
    const id = r.stdout.trim();
    expect(await stat(`${path}-wal`).then((st) => st.size)).toBeGreaterThan(0); // the row is only in the WAL
    db = openDatabase(path);
    expect(getSandbox(db, id)?.name).toBe('survivor');
  });

  it('hides a spare from lists, lookups by name and events until a create claims it (docs/architecture.md §31)', () => {
    const user = insertSandbox(db, base);
    const spare = insertSandbox(db, { ...base, name: 'spare-x1', spare: true });
    setSandboxState(db, spare.id, 'paused');
    appendEvent(db, { type: 'template', data: { image: 'dev' } });
    expect(listSandboxes(db).map((r) => r.name)).toEqual(['dev']);
    expect(listSandboxes(db, { rows: 'spares' }).map((r) => r.name)).toEqual(['spare-x1']);
    expect(listSandboxes(db, { rows: 'all' })).toHaveLength(2);
    expect(getSandboxByName(db, 'spare-x1')).toBeUndefined();
    expect(getSandbox(db, spare.id)?.spare).toBe(true);
    // Its state events exist but are never listed; daemon-wide events are.
    expect(listEvents(db).map((e) => e.sandboxId)).toEqual([user.id, null]);
    expect(listNamedEvents(db, { sandboxId: spare.id })).toEqual([]);

    // A name in use is refused and changes nothing.
    expect(() => claimSpare(db, spare.id, { name: 'dev', urlAuth: 'public', labels: [], environment: {}, diskBytes: base.diskBytes })).toThrow(ConflictError);
    expect(getSandbox(db, spare.id)).toMatchObject({ spare: true, name: 'spare-x1', state: 'paused' });
    expect(() => claimSpare(db, user.id, { name: 'other', urlAuth: 'private', labels: [], environment: {}, diskBytes: base.diskBytes })).toThrow(NotFoundError);

    const claimed = claimSpare(db, spare.id, { name: 'mine', urlAuth: 'public', labels: ['a'], environment: { K: 'v' }, diskBytes: base.diskBytes * 2 });
    expect(claimed).toMatchObject({ id: spare.id, spare: false, name: 'mine', state: 'creating', urlAuth: 'public', labels: ['a'], environment: { K: 'v' }, diskBytes: base.diskBytes * 2 });
    expect(getSandboxByName(db, 'mine')?.id).toBe(spare.id);
    // Its history starts at the claim: the spare's own events are gone.
    expect(listNamedEvents(db, { sandboxId: spare.id }).map((e) => [e.type, e.data, e.sandboxName])).toEqual([['state', { from: null, to: 'creating' }, 'mine']]);
    expect(() => claimSpare(db, spare.id, { name: 'again', urlAuth: 'private', labels: [], environment: {}, diskBytes: base.diskBytes })).toThrow(NotFoundError);

    // A spare removed unclaimed leaves no event at all; a sandbox leaves its 'deleted' one.
    const other = insertSandbox(db, { ...base, name: 'spare-x2', spare: true });
    expect(deleteSandbox(db, other.id)).toBe(true);
    expect(db.$client.prepare('SELECT count(*) AS n FROM events WHERE sandbox_id = ?').get(other.id)).toEqual({ n: 0 });
    expect(deleteSandbox(db, spare.id)).toBe(true);
    expect(listEvents(db, { sandboxId: spare.id }).map((e) => e.type)).toEqual(['state', 'deleted']);
  });

  it('migrates a database made by an older version, and refuses one made by a newer version', async () => {
    closeDatabase(db);
    // An "older version": only the migrations up to now. A "newer version" adds one.
    const older = join(dir, 'older-migrations');
    await cp(defaultMigrationsFolder(), older, { recursive: true });
    const oldPath = join(dir, 'old.db');
    db = openDatabase(oldPath, { migrationsFolder: older });
    const s = insertSandbox(db, base);
    closeDatabase(db);

    const newer = join(dir, 'newer-migrations');
    await cp(older, newer, { recursive: true });
    const journalPath = join(newer, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { idx: number; when: number; tag: string; breakpoints: boolean; version: string }[] };
    const last = journal.entries.at(-1)!;
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag: '9999_test_add_column' });
    await writeFile(journalPath, JSON.stringify(journal));
    await writeFile(join(newer, '9999_test_add_column.sql'), 'ALTER TABLE `sandboxes` ADD `note` text DEFAULT \'\' NOT NULL;');

    db = openDatabase(oldPath, { migrationsFolder: newer });
    const cols = (db.$client.prepare('PRAGMA table_info(sandboxes)').all() as { name: string }[]).map((c) => c.name);
    expect(cols).toContain('note');
    expect(getSandbox(db, s.id)?.name).toBe('dev');
    closeDatabase(db);

    expect(() => openDatabase(oldPath, { migrationsFolder: older })).toThrow(/newer version of hob/);
    db = openDatabase(oldPath, { migrationsFolder: newer }); // re-opening applies nothing twice
    expect((db.$client.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n).toBe(journal.entries.length);
  });
});
