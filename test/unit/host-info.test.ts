/**
 * hobd's host figures (daemon/host/info.ts): /proc parsing on fixture text, the CPU busy
 * share between two readings, and the doctor checks' cache: run once per max age, a stale
 * result answered at once while a refresh runs, a failing run reported as a warning. The
 * checks themselves are a counting stand-in here (doctor's own tests cover them); /proc
 * is a fixture tree read through doctor's HostFiles.
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostFiles } from '../../daemon/cli/doctor/host-files.js';
import type { Check } from '../../daemon/cli/doctor/types.js';
import { busyPercent, HostInfoReader, parseMeminfo, parseProcStat } from '../../daemon/host/info.js';

const MEMINFO = 'MemTotal:        8000000 kB\nMemFree:          100000 kB\nMemAvailable:    6000000 kB\nBuffers:           1000 kB\n';
const STAT1 = 'cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\nintr 1 2 3\n';
const STAT2 = 'cpu  200 0 100 1500 100 0 0 0 0 0\ncpu0 100 0 50 750 50 0 0 0 0 0\nintr 1 2 3\n';

describe('host figures', () => {
  it('parses /proc/meminfo, refusing what lacks a field and capping available at total', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalBytes: 8000000 * 1024, availableBytes: 6000000 * 1024 });
    expect(parseMeminfo('MemTotal: 10 kB\n')).toBeUndefined();
    expect(parseMeminfo('MemTotal:  10 kB\nMemAvailable:  20 kB\n')).toEqual({ totalBytes: 10240, availableBytes: 10240 });
  });

  it('parses /proc/stat and computes the busy share between two readings', () => {
    const a = parseProcStat(STAT1)!;
    const b = parseProcStat(STAT2)!;
    expect(a).toEqual({ busy: 150, total: 1000 });
    expect(b).toEqual({ busy: 300, total: 1900 });
    expect(busyPercent(a, b)).toBe(16.7); // 150 busy of 900 ticks
    expect(busyPercent(b, a)).toBeNull(); // counters went back (a reboot of the counters)
    expect(parseProcStat('intr 1 2\n')).toBeUndefined();
  });
});

describe('HostInfoReader', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'hob-host-info-'));
    await mkdir(join(root, 'proc'));
    await writeFile(join(root, 'proc/meminfo'), MEMINFO);
    await writeFile(join(root, 'proc/stat'), STAT1);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs the checks once per max age and answers a stale result at once while refreshing', async () => {
    let clock = 1_000_000;
    let runs = 0;
    let release: (() => void) | undefined;
    const checks = async (): Promise<Check[]> => {
      runs++;
      if (runs === 2) await new Promise<void>((r) => (release = r));
      return [
        { name: 'kvm', status: 'warn', detail: `no KVM (run ${runs})`, fix: 'enable it' },
        { name: 'pool', status: 'ok', detail: 'fine' },
      ];
    };
    const reader = new HostInfoReader({
      space: async () => ({ sizeBytes: 100, freeBytes: 40 }),
      vmm: { kind: 'qemu', kvm: false, reason: 'qemu under TCG: KVM is not usable', problems: [] },
      checks,
      files: hostFiles(root),
      now: () => clock,
      checksMaxAgeMs: 30_000,
    });
    const first = await reader.info();
    expect(first.memory).toEqual({ totalBytes: 8000000 * 1024, availableBytes: 6000000 * 1024 });
    expect(first.pool).toEqual({ sizeBytes: 100, freeBytes: 40 });
    expect(first.vmm.kind).toBe('qemu');
    expect(first.doctor.status).toBe('warn');
    expect(first.doctor.checks[0]?.detail).toBe('no KVM (run 1)');
    expect(first.cpu.count).toBeGreaterThan(0);

    clock += 10_000;
    await writeFile(join(root, 'proc/stat'), STAT2);
    const again = await reader.info();
    expect(runs).toBe(1);
    expect(again.cpu.busyPercent).toBe(16.7);

    clock += 30_000; // stale: answered from the last run, a refresh starts
    const stale = await reader.info();
    expect(stale.doctor.checks[0]?.detail).toBe('no KVM (run 1)');
    expect(runs).toBe(2);
    await reader.info(); // while the refresh runs, no second one
    expect(runs).toBe(2);
    release!();
    await new Promise((r) => setTimeout(r, 10));
    expect((await reader.info()).doctor.checks[0]?.detail).toBe('no KVM (run 2)');
  });

  it('reports checks that could not run as a warning instead of failing the request', async () => {
    const reader = new HostInfoReader({
      space: async () => ({ sizeBytes: 1, freeBytes: 1 }),
      vmm: { kind: 'qemu', kvm: false, reason: 'r', problems: [] },
      checks: async () => {
        throw new Error('spawn btrfs ENOENT');
      },
      files: hostFiles(root),
    });
    const info = await reader.info();
    expect(info.doctor.status).toBe('warn');
    expect(info.doctor.checks[0]?.detail).toMatch(/did not run: spawn btrfs ENOENT/);
  });
});
