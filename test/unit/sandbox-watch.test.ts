/** What a list watcher reports between two readings of the sandbox list (core/sandbox-watch.ts). */
import { describe, expect, it } from 'vitest';
import { listChanges, WatcherSlots } from '../../daemon/core/sandbox-watch.js';
import type { Sandbox, SandboxState } from '../../daemon/core/types.js';

const sandbox = (name: string, state: SandboxState, id = `id-${name}`): Sandbox => ({
  id,
  name,
  state,
  stateSince: '2026-01-01T00:00:00.000Z',
  image: 'minimal',
  cpus: 1,
  memoryMiB: 512,
  diskBytes: 1024 ** 3,
  vmm: 'qemu',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  lastError: null,
  urlAuth: 'private',
  labels: [],
  environment: {},
  autoCheckpoint: null,
  idle: {},
  keepAwakeUntil: null,
  forkedFrom: null,
});

describe('listChanges', () => {
  it('reports new, changed and gone sandboxes, and nothing for the unchanged', () => {
    const before = new Map([
      ['a', sandbox('a', 'running')],
      ['b', sandbox('b', 'running')],
      ['c', sandbox('c', 'stopped')],
    ]);
    const now = [sandbox('a', 'running'), sandbox('b', 'paused'), sandbox('d', 'creating')];
    expect(listChanges(before, now).map((c) => [c.type, c.name, c.sandbox.state])).toEqual([
      ['update', 'b', 'paused'],
      ['created', 'd', 'creating'],
      ['deleted', 'c', 'stopped'],
    ]);
  });

  it('sees a sandbox removed and made again under the same name between readings as created', () => {
    const before = new Map([['a', sandbox('a', 'running', 'old')]]);
    expect(listChanges(before, [sandbox('a', 'running', 'new')]).map((c) => c.type)).toEqual(['created']);
  });
});

describe('WatcherSlots', () => {
  it('refuses past its size, and a released slot can be taken again (once)', () => {
    const slots = new WatcherSlots(2);
    const first = slots.take();
    expect(slots.take()).toBeDefined();
    expect(slots.take()).toBeUndefined();
    first?.();
    first?.();
    expect(slots.take()).toBeDefined();
    expect(slots.take()).toBeUndefined();
  });
});
