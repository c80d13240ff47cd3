/**
 * Crash windows (issue 12 finding 9): what start-up does with a VMM it finds,
 * and which automatic checkpoints a prune may remove.
 */
import { describe, expect, it } from 'vitest';
import { selectAutoPrune } from '../../daemon/core/checkpoint-store.js';
import { decideLiveRow } from '../../daemon/core/reconcile.js';

describe('reconcile: a row that says running or paused', () => {
  it('never kills a paused VMM, whatever the row says (live checkpoint, pause fallback, pause in progress)', () => {
    expect(decideLiveRow('running', 'paused', false)).toEqual({ action: 'adopt', state: 'paused' });
    expect(decideLiveRow('running', 'paused', true)).toEqual({ action: 'adopt', state: 'paused' });
    expect(decideLiveRow('paused', 'paused', false)).toEqual({ action: 'adopt', state: 'paused' });
    // A hibernate that died after its memory image was complete, before the row said so: the VMM still holds it too.
    expect(decideLiveRow('paused', 'paused', true)).toEqual({ action: 'adopt', state: 'paused' });
  });

  it('adopts a running VMM as running, also when the row said paused (a resume hobd died in)', () => {
    expect(decideLiveRow('running', 'running', false)).toEqual({ action: 'adopt', state: 'running' });
    expect(decideLiveRow('paused', 'running', false)).toEqual({ action: 'adopt', state: 'running' });
  });

  it('a paused row without a VMM but with a complete memory image is hibernated; otherwise stopped', () => {
    expect(decideLiveRow('paused', 'gone', true)).toEqual({ action: 'hibernate' });
    expect(decideLiveRow('paused', 'gone', false)).toEqual({ action: 'stop' });
    // A running row's memory image is a live checkpoint's temporary copy: not the sandbox's state.
    expect(decideLiveRow('running', 'gone', true)).toEqual({ action: 'stop' });
    expect(decideLiveRow('running', 'stopped', false)).toEqual({ action: 'stop' });
  });
});

describe('pruning automatic checkpoints', () => {
  const cps = (...ids: string[]): Array<{ id: string; auto: boolean }> => ids.map((id) => ({ id, auto: !id.startsWith('manual') }));

  it('removes the oldest automatic ones beyond keep, never manual ones', () => {
    const all = cps('a1', 'manual1', 'a2', 'a3', 'a4');
    expect(selectAutoPrune(all, 2).map((c) => c.id)).toEqual(['a1', 'a2']);
    expect(selectAutoPrune(all, 10)).toEqual([]);
  });

  it('after a restore to the oldest automatic checkpoint, neither it nor the one just kept is removed', () => {
    // keep 2; a1 is the restore target, a3 the "before restore" checkpoint just taken.
    const all = cps('a1', 'a2', 'a3');
    expect(selectAutoPrune(all, 2, ['a1', 'a3']).map((c) => c.id)).toEqual([]);
    expect(selectAutoPrune(all, 1, ['a1', 'a3']).map((c) => c.id)).toEqual(['a2']);
  });
});
