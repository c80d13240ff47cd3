/** Network slots: one per sandbox, lowest free first, kept for the sandbox's life (real SQLite). */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../daemon/errors.js';
import { allocateNetSlot, closeDatabase, deleteSandbox, getSandbox, insertSandbox, openDatabase, updateSandbox, type HobDb, type NewSandbox } from '../../daemon/db/index.js';
import { networkPolicyOf } from '../../daemon/core/row-config.js';

const base: Omit<NewSandbox, 'name'> = { state: 'running', image: 'minimal', cpus: 1, memoryMiB: 512, diskBytes: 4 * 1024 ** 3, vmm: 'qemu' };

describe('network slots', () => {
  let dir: string;
  let db: HobDb;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-slots-'));
    db = openDatabase(join(dir, 'hob.db'));
  });
  afterEach(async () => {
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the lowest free slot, keeps it, and reuses a slot once its sandbox is gone', () => {
    const [a, b, c] = ['a', 'b', 'c'].map((name) => insertSandbox(db, { ...base, name }));
    expect(allocateNetSlot(db, a!.id, 8)).toBe(0);
    expect(allocateNetSlot(db, b!.id, 8)).toBe(1);
    expect(allocateNetSlot(db, a!.id, 8)).toBe(0);
    expect(getSandbox(db, b!.id)!.config['netSlot']).toBe(1);
    deleteSandbox(db, a!.id);
    expect(allocateNetSlot(db, c!.id, 8)).toBe(0);
  });

  it('keeps other config keys, and replaces a slot that no longer fits the range', () => {
    const a = insertSandbox(db, { ...base, name: 'a', config: { idle: { pauseAfterSeconds: 5 }, netSlot: 9 } });
    expect(allocateNetSlot(db, a.id, 4)).toBe(0);
    expect(getSandbox(db, a.id)!.config).toEqual({ idle: { pauseAfterSeconds: 5 }, netSlot: 0 });
  });

  it('says when the range is full and when the sandbox is unknown', () => {
    const [a, b] = ['a', 'b'].map((name) => insertSandbox(db, { ...base, name }));
    allocateNetSlot(db, a!.id, 1);
    expect(() => allocateNetSlot(db, b!.id, 1)).toThrow(ConflictError);
    expect(() => allocateNetSlot(db, b!.id, 1)).toThrow(/network\.transitRange/);
    expect(() => allocateNetSlot(db, 'nosuchid', 1)).toThrow(NotFoundError);
  });

  it('reads a stored policy, and treats a missing or damaged one as unrestricted', () => {
    const a = insertSandbox(db, { ...base, name: 'a' });
    expect(networkPolicyOf(a)).toEqual({ rules: [] });
    const rules = [{ domain: 'github.com', action: 'allow' as const }];
    expect(networkPolicyOf(updateSandbox(db, a.id, { config: { networkPolicy: { rules } } }))).toEqual({ rules });
    expect(networkPolicyOf(updateSandbox(db, a.id, { config: { networkPolicy: { rules: 'x' } } }))).toEqual({ rules: [] });
  });
});
