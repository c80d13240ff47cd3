/**
 * The boot timeline against a hostile guest (docs/architecture.md §24): the guest's report
 * of its boot steps is parsed before use (protocol bounds), and what it says is kept only
 * where it fits hobd's own clock: known steps, once each, in order, between the VMM's start
 * and the agent's answer. A scripted agent plays the guest over the real protocol.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidGuestAnswerError } from '../../daemon/agent/answer.js';
import { buildBootTimeline, type BootClock } from '../../daemon/core/boot-timeline.js';
import { BOOT_PHASES } from '../../daemon/wire/boot-timeline.js';
import { parseBootPhases } from '../../guest-image/agent/boot-phases.js';
import { startScriptedAgent, type ScriptedAgent } from '../helpers/scripted-agent.js';

const T0 = Date.parse('2026-12-06T12:00:00Z');
/** VMM started at T0; the agent answered its handshake 10 s later and boot.timeline at once. */
const clock: BootClock = { vmmStartMs: T0, agentReadyMs: T0 + 10_000, askedMs: T0 + 10_000, answeredMs: T0 + 10_000 };
/** A guest whose kernel clock started 2 s after the VMM: uptime 8 s at the answer. */
const honest = {
  uptimeMs: 8_000,
  phases: [
    { name: 'initramfs', atMs: 3_000 },
    { name: 'modules-loaded', atMs: 3_500 },
    { name: 'root-mounted', atMs: 3_900 },
    { name: 'init', atMs: 4_500 },
    { name: 'agent-start', atMs: 5_000 },
    { name: 'agent-main', atMs: 7_000 },
    { name: 'agent-listening', atMs: 7_800 },
  ],
};
const names = (t: { phases: Array<{ name: string }> }): string[] => t.phases.map((p) => p.name);
const monotonic = (t: { phases: Array<{ ms: number }> }): boolean => t.phases.every((p, i) => i === 0 || p.ms >= t.phases[i - 1]!.ms);

describe('building a boot timeline', () => {
  it('places an honest report on hobd clock, in boot order', () => {
    const t = buildBootTimeline('qemu', clock, honest);
    expect(t.guest).toBe('reported');
    expect(t.total_ms).toBe(10_000);
    expect(t.started_at).toBe('2026-12-06T12:00:00.000Z');
    expect(t.phases).toEqual([
      { name: 'vmm-start', ms: 0 },
      { name: 'kernel', ms: 2_000 },
      { name: 'initramfs', ms: 5_000 },
      { name: 'modules-loaded', ms: 5_500 },
      { name: 'root-mounted', ms: 5_900 },
      { name: 'init', ms: 6_500 },
      { name: 'agent-start', ms: 7_000 },
      { name: 'agent-main', ms: 9_000 },
      { name: 'agent-listening', ms: 9_800 },
      { name: 'agent-ready', ms: 10_000 },
    ]);
  });

  it('keeps only hobd steps for garbage', () => {
    for (const garbage of [undefined, null, 'x', 42, [], {}, { uptimeMs: 'soon', phases: [] }, { uptimeMs: 1, phases: 'all' }, { uptimeMs: 1, phases: [{ name: 7, atMs: 1 }] }]) {
      const t = buildBootTimeline('qemu', clock, garbage);
      expect(t.guest).toBe('unusable');
      expect(t.phases).toEqual([{ name: 'vmm-start', ms: 0 }, { name: 'agent-ready', ms: 10_000 }]);
    }
  });

  it('refuses a report too large for the protocol', () => {
    const huge = { uptimeMs: 8_000, phases: Array.from({ length: 100_000 }, () => ({ name: 'init', atMs: 1 })) };
    expect(buildBootTimeline('qemu', clock, huge).guest).toBe('unusable');
    const longName = { uptimeMs: 8_000, phases: [{ name: 'x'.repeat(10_000), atMs: 1 }] };
    expect(buildBootTimeline('qemu', clock, longName).guest).toBe('unusable');
  });

  it('cannot be placed when the guest claims to be up longer than its VMM, or has a negative uptime', () => {
    expect(buildBootTimeline('qemu', clock, { ...honest, uptimeMs: 60_000 }).guest).toBe('unusable');
    expect(buildBootTimeline('qemu', clock, { ...honest, uptimeMs: -5 }).guest).toBe('unusable');
    expect(buildBootTimeline('qemu', clock, { ...honest, uptimeMs: 1e308 }).guest).toBe('unusable');
  });

  it('drops negative, late, out-of-order, repeated and unknown steps', () => {
    const t = buildBootTimeline('qemu', clock, {
      uptimeMs: 8_000,
      phases: [
        { name: 'init', atMs: 4_500 },
        { name: 'initramfs', atMs: -1_000 }, // negative
        { name: 'root-mounted', atMs: 6_000 }, // after init, which follows it in boot order: init is dropped
        { name: 'init', atMs: 1 }, // repeated: the first counts
        { name: 'agent-start', atMs: 9_000 }, // beyond the uptime of the answer
        { name: 'rm -rf /', atMs: 5_000 }, // unknown
        { name: 'agent-ready', atMs: 100 }, // hobd's own step
        { name: 'agent-main', atMs: 7_000 },
      ],
    });
    expect(t.guest).toBe('reported');
    expect(names(t)).toEqual(['vmm-start', 'kernel', 'root-mounted', 'agent-main', 'agent-ready']);
    expect(monotonic(t)).toBe(true);
    expect(t.phases.every((p) => (BOOT_PHASES as readonly string[]).includes(p.name))).toBe(true);
  });

  it('puts a step that lands past the answer by less than the call took at the answer, and drops one beyond', () => {
    // The call took 400 ms: the guest read its uptime somewhere within it.
    const slow: BootClock = { ...clock, askedMs: T0 + 10_000, answeredMs: T0 + 10_400 };
    // Kernel placed at 10 200 - 8 100 = 2 100 ms; agent-listening then at 10 100 > 10 000.
    const t = buildBootTimeline('qemu', slow, { uptimeMs: 8_100, phases: [{ name: 'agent-main', atMs: 7_000 }, { name: 'agent-listening', atMs: 8_000 }] });
    expect(t.phases.slice(-3)).toEqual([{ name: 'agent-main', ms: 9_100 }, { name: 'agent-listening', ms: 10_000 }, { name: 'agent-ready', ms: 10_000 }]);
    // Asked 2 s after the handshake: a guest claiming it opened its port 1.5 s after hobd got its answer is dropped.
    const later: BootClock = { ...clock, askedMs: T0 + 12_000, answeredMs: T0 + 12_000 };
    const beyond = buildBootTimeline('qemu', later, { uptimeMs: 9_000, phases: [{ name: 'agent-main', atMs: 6_000 }, { name: 'agent-listening', atMs: 8_500 }] });
    expect(beyond.phases).toEqual([{ name: 'vmm-start', ms: 0 }, { name: 'kernel', ms: 3_000 }, { name: 'agent-main', ms: 9_000 }, { name: 'agent-ready', ms: 10_000 }]);
  });

  it('says so for an agent without boot.timeline', () => {
    const t = buildBootTimeline('qemu', clock, 'unsupported');
    expect(t.guest).toBe('unsupported');
    expect(names(t)).toEqual(['vmm-start', 'agent-ready']);
  });
});

describe('the agent side', () => {
  it('parses the phases file and skips anything else', () => {
    const text = 'initramfs 3.14\ninit 4.5\n\nnot a line\nagent-start -1\nroot-mounted 1e9\nX 1\n' + 'a'.repeat(5000) + ' 1\nfs-grown 6\n';
    expect(parseBootPhases(text)).toEqual([
      { name: 'initramfs', atMs: 3_140 },
      { name: 'init', atMs: 4_500 },
      { name: 'fs-grown', atMs: 6_000 },
    ]);
  });
});

describe('boot.timeline over the protocol', () => {
  let agent: ScriptedAgent | undefined;
  afterEach(() => agent?.dispose());

  it('accepts a valid answer', async () => {
    agent = await startScriptedAgent(['boot.timeline'], (channel) => {
      channel.send({ type: 'result', value: honest });
      channel.close();
    });
    const answer = await agent.client.bootTimeline();
    expect(buildBootTimeline('qemu', clock, answer).phases).toHaveLength(10);
  });

  it('rejects an answer outside the schema with InvalidGuestAnswerError', async () => {
    agent = await startScriptedAgent(['boot.timeline'], (channel) => {
      channel.send({ type: 'result', value: { uptimeMs: 1, phases: Array.from({ length: 1000 }, () => ({ name: 'init', atMs: 1 })) } });
      channel.close();
    });
    await expect(agent.client.bootTimeline()).rejects.toBeInstanceOf(InvalidGuestAnswerError);
  });

  it('is not sent to an agent without the capability', async () => {
    agent = await startScriptedAgent(['ping'], () => undefined);
    expect(agent.client.supports('boot.timeline')).toBe(false);
    await expect(agent.client.bootTimeline()).rejects.toThrow(/boot\.timeline/);
  });
});
