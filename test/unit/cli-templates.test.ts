/** `hob templates ls`: the table says how each template keeps its memory, how long it booted and whether its spare is ready. */
import { describe, expect, it } from 'vitest';
import { templateTable } from '../../daemon/cli/commands/templates.js';
import { TemplateObject } from '../../daemon/wire/templates.js';

describe('hob templates ls table', () => {
  it('shows the memory mode, the boot time and the spare, and dashes for a template still building', () => {
    const now = new Date('2026-12-06T12:00:00Z');
    const ready = TemplateObject.parse({ image: 'dev', state: 'ready', cpus: 1, memory_mib: 512, disk_bytes: 4 * 1024 ** 3, built_at: '2026-12-06T11:58:00Z', memory_mode: 'mapped', boot_ms: 12_345, detail: null, spare: 'ready' });
    const building = TemplateObject.parse({ image: 'minimal', state: 'building', cpus: null, memory_mib: null, disk_bytes: null, built_at: null, memory_mode: null, boot_ms: null, detail: 'booting (1 vCPU)\nmore' });
    const lines = templateTable([ready, building], now).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^IMAGE\s+STATE\s+CPUS\s+MEMORY\s+DISK\s+RAM\s+BUILT\s+BOOT\s+SPARE\s+DETAIL$/);
    expect(lines[1]).toMatch(/^dev\s+ready\s+1\s+512 MiB\s+4(\.0)? GiB\s+mapped\s+.*ago\s+12\.3 s\s+ready\s+-$/);
    expect(lines[2]).toMatch(/^minimal\s+building\s+-\s+-\s+-\s+-\s+-\s+-\s+-\s+booting \(1 vCPU\)$/);
  });

  it('refuses a memory mode or a spare state the daemon does not have', () => {
    expect(TemplateObject.safeParse({ image: 'x', state: 'ready', cpus: 1, memory_mib: 1, disk_bytes: 1, built_at: null, memory_mode: 'mapped', boot_ms: 1, detail: null, spare: 'maybe' }).success).toBe(false);
    expect(TemplateObject.safeParse({ image: 'x', state: 'ready', cpus: 1, memory_mib: 1, disk_bytes: 1, built_at: null, memory_mode: 'swap', boot_ms: 1, detail: null }).success).toBe(false);
  });
});
