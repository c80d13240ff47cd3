/**
 * The sleep surface without VMs: the API bodies of sleep, keep-awake and the
 * PUT extensions (idle, auto_checkpoint), the Sprite object's hob fields, and
 * the CLI's durations, option handling and output for sleep, wake, keep-awake,
 * idle, checkpoint auto and info.
 */
import { describe, expect, it } from 'vitest';
import { idleInput } from '../../daemon/api/routes/sandboxes.js';
import { KeepAwakeBody, SleepBody, UpdateSandboxBody } from '../../daemon/wire/sprite-requests.js';
import { toSpriteObject } from '../../daemon/api/sprite-object.js';
import { autoCheckpointUpdate } from '../../daemon/cli/commands/checkpoints.js';
import { sandboxFields } from '../../daemon/cli/commands/sandboxes.js';
import { idleUpdate, keepAwakeSeconds } from '../../daemon/cli/commands/sleep.js';
import { autoCheckpointText, formatUntil, idleText, keepAwakeText } from '../../daemon/cli/settings-text.js';
import { UsageError } from '../../daemon/cli/errors.js';
import { SandboxObject } from '../../daemon/cli/sandbox-schemas.js';
import { formatDurationSeconds, parseDurationSeconds, parseIdleSeconds } from '../../daemon/cli/units.js';
import type { Sandbox } from '../../daemon/core/types.js';

const sandbox: Sandbox = {
  id: 'abc',
  name: 'dev',
  state: 'hibernated',
  stateSince: '2026-01-02T11:58:00.000Z',
  image: 'dev',
  cpus: 1,
  memoryMiB: 512,
  diskBytes: 4 * 1024 ** 3,
  vmm: 'qemu',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  lastError: null,
  urlAuth: 'private',
  labels: [],
  environment: {},
  autoCheckpoint: { intervalMinutes: 30, keep: 5 },
  idle: { pauseAfterSeconds: 0 },
  keepAwakeUntil: '2026-01-02T13:00:00.000Z',
  forkedFrom: { sandbox: 'base', checkpoint: 'v2' },
};
const now = new Date('2026-01-02T12:00:00Z');

describe('API bodies', () => {
  it('sleep takes an optional hibernate flag', () => {
    expect(SleepBody.parse({})).toEqual({});
    expect(SleepBody.parse({ hibernate: true })).toEqual({ hibernate: true });
    expect(SleepBody.safeParse({ hibernate: 'yes' }).success).toBe(false);
  });

  it('keep-awake takes whole seconds from 1 to a week', () => {
    expect(KeepAwakeBody.parse({ seconds: 3600 })).toEqual({ seconds: 3600 });
    for (const seconds of [0, -1, 1.5, 7 * 86_400 + 1, '60']) expect(KeepAwakeBody.safeParse({ seconds }).success).toBe(false);
    expect(KeepAwakeBody.safeParse({}).success).toBe(false);
  });

  it('PUT takes idle and auto_checkpoint, null included, and refuses bad values', () => {
    expect(UpdateSandboxBody.parse({ idle: { pause_after_seconds: 0, hibernate_after_seconds: 600 }, auto_checkpoint: null })).toEqual({
      idle: { pause_after_seconds: 0, hibernate_after_seconds: 600 },
      auto_checkpoint: null,
    });
    expect(UpdateSandboxBody.parse({ idle: null, auto_checkpoint: { interval_minutes: 30, keep: 5 } })).toMatchObject({ idle: null });
    for (const body of [
      { idle: { pause_after_seconds: -1 } },
      { idle: { hibernate_after_seconds: 1.5 } },
      { idle: { pause_after_seconds: 31 * 86_400 } },
      { auto_checkpoint: { interval_minutes: 0, keep: 5 } },
      { auto_checkpoint: { interval_minutes: 30, keep: 101 } },
      { auto_checkpoint: { interval_minutes: 30 } },
    ]) {
      expect(UpdateSandboxBody.safeParse(body).success, JSON.stringify(body)).toBe(false);
    }
  });

  it('maps the snake_case idle times to the service input, leaving absent keys absent', () => {
    expect(idleInput({ pause_after_seconds: 10 })).toEqual({ pauseAfterSeconds: 10 });
    expect(idleInput({ hibernate_after_seconds: 0, pause_after_seconds: 5 })).toEqual({ pauseAfterSeconds: 5, hibernateAfterSeconds: 0 });
    expect(idleInput({})).toEqual({});
  });
});

describe('Sprite object hob fields', () => {
  it('shows sleep and checkpoint settings in snake_case next to the Sprites fields', () => {
    const sprite = toSpriteObject(sandbox, 7707);
    expect(sprite).toMatchObject({
      status: 'cold',
      state: 'hibernated',
      state_since: '2026-01-02T11:58:00.000Z',
      idle: { pause_after_seconds: 0 },
      keep_awake_until: '2026-01-02T13:00:00.000Z',
      auto_checkpoint: { interval_minutes: 30, keep: 5 },
      forked_from: { sandbox: 'base', checkpoint: 'v2' },
    });
    expect('hibernate_after_seconds' in sprite.idle).toBe(false);
    const plain = toSpriteObject({ ...sandbox, idle: {}, keepAwakeUntil: null, autoCheckpoint: null, forkedFrom: null }, 7707);
    expect(plain).toMatchObject({ idle: {}, keep_awake_until: null, auto_checkpoint: null, forked_from: null });
    // What the CLI reads of it.
    expect(SandboxObject.safeParse(JSON.parse(JSON.stringify(sprite))).success).toBe(true);
  });
});

describe('CLI durations', () => {
  it.each([
    ['90s', 90],
    ['30m', 1800],
    ['1h', 3600],
    ['1h30m', 5400],
    ['2d', 172_800],
    ['1.5h', 5400],
    ['0s', 0],
    [' 10M ', 600],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDurationSeconds(text, '--for')).toBe(seconds);
  });

  it('refuses bare numbers, junk and fractions of a second', () => {
    expect(() => parseDurationSeconds('90', '--for')).toThrow(/--for needs a unit/);
    expect(() => parseDurationSeconds('1w', '--for')).toThrow(UsageError);
    expect(() => parseDurationSeconds('-5s', '--for')).toThrow(UsageError);
    expect(() => parseDurationSeconds('', '--for')).toThrow(UsageError);
    expect(() => parseDurationSeconds('1.5s', '--for')).toThrow(/whole number of seconds/);
  });

  it('reads off, never and 0 as idle time 0', () => {
    expect(parseIdleSeconds('off', '--pause-after')).toBe(0);
    expect(parseIdleSeconds('never', '--pause-after')).toBe(0);
    expect(parseIdleSeconds('0', '--pause-after')).toBe(0);
    expect(parseIdleSeconds('30m', '--pause-after')).toBe(1800);
  });

  it.each([
    [0, '0s'],
    [90, '1m30s'],
    [3600, '1h'],
    [90_061, '1d1h1m1s'],
  ])('formats %d seconds as %s', (seconds, text) => {
    expect(formatDurationSeconds(seconds)).toBe(text);
  });
});

describe('CLI options', () => {
  it('keep-awake --for is 1s to 7d', () => {
    expect(keepAwakeSeconds('1h')).toBe(3600);
    expect(() => keepAwakeSeconds('0s')).toThrow(UsageError);
    expect(() => keepAwakeSeconds('8d')).toThrow(/between 1s and 7d/);
  });

  it('idle changes only the given times; --default starts from hobd\'s', () => {
    const current = { pause_after_seconds: 10, hibernate_after_seconds: 600 };
    expect(idleUpdate(current, {})).toBeUndefined();
    expect(idleUpdate(current, { pauseAfter: 'off' })).toEqual({ pause_after_seconds: 0, hibernate_after_seconds: 600 });
    expect(idleUpdate(current, { default: true })).toBeNull();
    expect(idleUpdate(current, { default: true, hibernateAfter: '1h' })).toEqual({ hibernate_after_seconds: 3600 });
    expect(idleUpdate(undefined, { pauseAfter: '30s' })).toEqual({ pause_after_seconds: 30 });
    expect(() => idleUpdate(undefined, { pauseAfter: '31d' })).toThrow(/at most 30 days/);
    expect(() => idleUpdate(undefined, { hibernateAfter: 'soon' })).toThrow(UsageError);
  });

  it('checkpoint auto: --every in whole minutes, --keep defaulting to the current count, --off alone', () => {
    expect(autoCheckpointUpdate(null, {})).toBeUndefined();
    expect(autoCheckpointUpdate(null, { every: '30m' })).toEqual({ interval_minutes: 30, keep: 5 });
    expect(autoCheckpointUpdate({ interval_minutes: 30, keep: 9 }, { every: '2h' })).toEqual({ interval_minutes: 120, keep: 9 });
    expect(autoCheckpointUpdate({ interval_minutes: 30, keep: 9 }, { keep: '3' })).toEqual({ interval_minutes: 30, keep: 3 });
    expect(autoCheckpointUpdate({ interval_minutes: 30, keep: 9 }, { off: true })).toBeNull();
    expect(() => autoCheckpointUpdate(null, { keep: '3' })).toThrow(/give --every/);
    expect(() => autoCheckpointUpdate(null, { every: '90s' })).toThrow(/whole minutes/);
    expect(() => autoCheckpointUpdate(null, { every: '8d' })).toThrow(UsageError);
    expect(() => autoCheckpointUpdate(null, { every: '30m', keep: '0' })).toThrow(UsageError);
    expect(() => autoCheckpointUpdate(null, { every: '30m', keep: '101' })).toThrow(/at most 100/);
    expect(() => autoCheckpointUpdate(null, { off: true, every: '30m' })).toThrow(/--off goes alone/);
  });
});

describe('CLI output', () => {
  it('describes idle times, holds and schedules', () => {
    expect(idleText({})).toBe("pause after hobd's default, hibernate after hobd's default");
    expect(idleText({ pause_after_seconds: 0, hibernate_after_seconds: 5400 })).toBe('pause after never, hibernate after 1h30m');
    expect(formatUntil('2026-01-02T13:00:00Z', now)).toBe('in 1h');
    expect(keepAwakeText(null, now)).toBeUndefined();
    expect(keepAwakeText('2026-01-02T12:00:30.000Z', now)).toBe('until 2026-01-02T12:00:30.000Z (in 30s)');
    expect(autoCheckpointText(null)).toBe('off');
    expect(autoCheckpointText({ interval_minutes: 90, keep: 5 })).toBe('every 1h30m, the last 5 kept');
  });

  it('hob info shows the new fields', () => {
    const text = sandboxFields(SandboxObject.parse(JSON.parse(JSON.stringify(toSpriteObject(sandbox, 7707)))), now);
    expect(text).toContain('state:       hibernated (since 2m ago)\n');
    expect(text).toContain("idle:        pause after never, hibernate after hobd's default\n");
    expect(text).toContain('keep awake:  until 2026-01-02T13:00:00.000Z (in 1h)\n');
    expect(text).toContain('checkpoints: automatic every 30m, the last 5 kept\n');
    expect(text).toContain('forked from: base v2\n');
  });
});
