/**
 * Sprites' tasks asked for inside a guest (core/guest-tasks.ts) and their
 * wire shapes (wire/guest-api.ts): each change sets the sandbox's one
 * keep-awake hold to the latest expiry, or releases it with the last task.
 */
import { describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../../daemon/errors.js';
import { GuestTasks, MAX_TASKS } from '../../daemon/core/guest-tasks.js';
import { TaskCreateBody } from '../../daemon/wire/guest-api.js';

describe('guest tasks', () => {
  const setup = () => {
    const holds: Array<[string, number | null]> = [];
    const tasks = new GuestTasks(async (name, seconds) => holds.push([name, seconds]));
    return { holds, tasks };
  };

  it('holds the sandbox until the latest task expires and lets go with the last one', async () => {
    const { holds, tasks } = setup();
    await tasks.put('id1', 'box', 'a', 600, false);
    await tasks.put('id1', 'box', 'b', 60, false);
    expect(holds).toEqual([['box', 600], ['box', 600]]);
    await expect(tasks.put('id1', 'box', 'a', 60, false)).rejects.toBeInstanceOf(ConflictError);
    await tasks.put('id1', 'box', 'a', 30, true); // a refresh may shorten it
    expect(holds.at(-1)).toEqual(['box', 60]);
    expect(tasks.list('id1').map((t) => t.name)).toEqual(['a', 'b']);
    expect(tasks.list('id2')).toEqual([]);
    await tasks.remove('id1', 'box', 'b');
    expect(holds.at(-1)).toEqual(['box', 30]);
    await tasks.remove('id1', 'box', 'a');
    expect(holds.at(-1)).toEqual(['box', null]);
    await expect(tasks.remove('id1', 'box', 'a')).rejects.toBeInstanceOf(NotFoundError);
    expect(() => tasks.get('id1', 'a')).toThrow(NotFoundError);
  });

  it('forgets expired tasks and bounds how many a sandbox holds', async () => {
    const { tasks } = setup();
    for (let i = 0; i < MAX_TASKS; i++) await tasks.put('id1', 'box', `t${i}`, 60, false);
    await expect(tasks.put('id1', 'box', 'one-more', 60, false)).rejects.toThrow(/at most/);
    expect(tasks.list('id1', Date.now() + 61_000)).toEqual([]);
  });

  it('takes expire as seconds or a duration, an hour at most', () => {
    expect(TaskCreateBody.parse({ name: 'a', expire: '30m' }).expire).toBe(1800);
    expect(TaskCreateBody.parse({ name: 'a', expire: 90 }).expire).toBe(90);
    expect(TaskCreateBody.parse({ name: 'a' }).expire).toBe(3600);
    for (const expire of ['2h', 0, -5, 'soon', 3601]) expect(TaskCreateBody.safeParse({ name: 'a', expire }).success).toBe(false);
    expect(TaskCreateBody.safeParse({ name: '../x', expire: 60 }).success).toBe(false);
  });
});
