/** Pure parts of the manager: the per-sandbox lock, idle bookkeeping, identities. */
import { describe, expect, it } from 'vitest';
import { IdleTracker, effectiveIdle } from '../../daemon/core/idle.js';
import { machineIdFor } from '../../daemon/core/identity.js';
import { KeyedLock } from '../../daemon/core/lock.js';
import { withDeadline } from '../../daemon/core/deadline.js';
import { ConflictError, TimeoutError } from '../../daemon/errors.js';

describe('KeyedLock', () => {
  it('refuses a second operation on a busy key with ConflictError naming the first', async () => {
    const lock = new KeyedLock();
    let finish = (): void => {};
    const first = lock.run('a', 'restore', () => new Promise<void>((r) => (finish = r)));
    await expect(lock.run('a', 'checkpoint', async () => 1)).rejects.toThrow(ConflictError);
    await expect(lock.run('a', 'checkpoint', async () => 1)).rejects.toThrow(/restore is in progress/);
    expect(await lock.run('b', 'checkpoint', async () => 2)).toBe(2);
    expect(lock.holder('a')).toBe('restore');
    finish();
    await first;
    expect(lock.holder('a')).toBeUndefined();
  });

  it('released() waits for the holder to finish, also when it fails', async () => {
    const lock = new KeyedLock();
    await lock.released('free'); // resolves at once
    let fail = (): void => {};
    const op = lock.run('a', 'sleep', () => new Promise<void>((_, reject) => (fail = () => reject(new Error('boom')))));
    let released = false;
    const waiting = lock.released('a').then(() => (released = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(released).toBe(false);
    fail();
    await expect(op).rejects.toThrow('boom');
    await waiting;
    expect(released).toBe(true);
    expect(await lock.run('a', 'start', async () => 'ok')).toBe('ok');
  });
});

describe('KeyedLock and background work', () => {
  it('a request waits for background work hob started by itself instead of failing; background work conflicts', async () => {
    const lock = new KeyedLock();
    let finish = (): void => {};
    const idle = lock.run('a', 'idle hibernate', () => new Promise<void>((r) => (finish = r)), { background: true });
    // Another background job conflicts at once (hob tries again later).
    await expect(lock.run('a', 'automatic checkpoint', async () => 1, { background: true })).rejects.toThrow(/idle hibernate is in progress/);
    let stopped = false;
    const stop = lock.run('a', 'stop', async () => (stopped = true));
    await new Promise((r) => setTimeout(r, 10));
    expect(stopped).toBe(false);
    expect(lock.holder('a')).toBe('idle hibernate');
    finish();
    await idle;
    await stop;
    expect(stopped).toBe(true);
    // Two requests still conflict with each other.
    let finishRestore = (): void => {};
    const restore = lock.run('a', 'restore', () => new Promise<void>((r) => (finishRestore = r)));
    await expect(lock.run('a', 'stop', async () => 1)).rejects.toThrow(/restore is in progress/);
    finishRestore();
    await restore;
  });
});

describe('idle bookkeeping', () => {
  it('counts idle time from the last touch, or from the given start', () => {
    const idle = new IdleTracker();
    expect(idle.idleFor('x', 1_000, 5_000)).toBe(4_000);
    idle.touch('x', 4_500);
    expect(idle.idleFor('x', 1_000, 5_000)).toBe(500);
    idle.forget('x');
    expect(idle.idleFor('x', 2_000, 5_000)).toBe(3_000);
  });

  it('per-sandbox settings override the global ones key by key', () => {
    const global = { pauseAfterSeconds: 30, hibernateAfterSeconds: 1800 };
    expect(effectiveIdle(global, undefined)).toEqual(global);
    expect(effectiveIdle(global, { pauseAfterSeconds: 0 })).toEqual({ pauseAfterSeconds: 0, hibernateAfterSeconds: 1800 });
    expect(effectiveIdle(global, { hibernateAfterSeconds: 60 })).toEqual({ pauseAfterSeconds: 30, hibernateAfterSeconds: 60 });
  });
});

describe('identity and deadlines', () => {
  it('derives a stable 32-hex machine-id per sandbox id, different for every id', () => {
    expect(machineIdFor('abc')).toMatch(/^[0-9a-f]{32}$/);
    expect(machineIdFor('abc')).toBe(machineIdFor('abc'));
    expect(machineIdFor('abd')).not.toBe(machineIdFor('abc'));
  });

  it('withDeadline passes results through and times out with TimeoutError', async () => {
    expect(await withDeadline(Promise.resolve(7), 1000, 'x')).toBe(7);
    await expect(withDeadline(new Promise(() => {}), 20, 'the agent')).rejects.toThrow(TimeoutError);
    await expect(withDeadline(Promise.reject(new Error('no')), 1000, 'x')).rejects.toThrow('no');
  });
});
