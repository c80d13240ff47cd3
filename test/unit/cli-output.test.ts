/** Human output: tables, field blocks, sizes, ages; the ls/sessions/tokens/images tables. */
import { describe, expect, it } from 'vitest';
import { imageTable } from '../../daemon/cli/commands/images.js';
import { sandboxFields, sandboxTable } from '../../daemon/cli/commands/sandboxes.js';
import { sessionTable } from '../../daemon/cli/commands/sessions.js';
import { defaultTokenName, tokenTable } from '../../daemon/cli/commands/tokens.js';
import { formatBytes, formatFields, formatSince, formatTable, jsonText } from '../../daemon/cli/output.js';
import { createProgress } from '../../daemon/cli/progress.js';
import { Writable } from 'node:stream';
import type { SandboxObject } from '../../daemon/cli/sandbox-schemas.js';

const now = new Date('2026-01-02T12:00:00Z');

describe('formatting', () => {
  it('aligns table columns with three spaces and no trailing blanks', () => {
    expect(formatTable(['NAME', 'STATE'], [['dev', 'running'], ['a-much-longer-name', 'stopped']])).toBe(
      'NAME                 STATE\ndev                  running\na-much-longer-name   stopped\n',
    );
  });
  it('keeps cells on one line and pads short rows', () => {
    expect(formatTable(['A', 'B', 'C'], [['x\ny', 'z']])).toBe('A     B   C\nx y   z\n');
  });
  it('prints only the header for no rows', () => {
    expect(formatTable(['ID', 'NAME'], [])).toBe('ID   NAME\n');
  });
  it('aligns field blocks and leaves out undefined values', () => {
    expect(formatFields([['name', 'dev'], ['labels', undefined], ['last error', 'boom']])).toBe('name:       dev\nlast error: boom\n');
  });
  it.each([
    [0, '0 B'],
    [812, '812 B'],
    [1024, '1 KiB'],
    [512 * 1024 ** 2, '512 MiB'],
    [1.5 * 1024 ** 3, '1.5 GiB'],
    [100 * 1024 ** 3, '100 GiB'],
    [1024 ** 4, '1 TiB'],
    [-1, '-'],
  ])('%d bytes read %s', (bytes, text) => {
    expect(formatBytes(bytes)).toBe(text);
  });
  it.each([
    ['2026-01-02T11:59:48Z', '12s ago'],
    ['2026-01-02T11:55:00Z', '5m ago'],
    ['2026-01-02T09:00:00Z', '3h ago'],
    ['2025-12-29T12:00:00Z', '4d ago'],
    ['2026-01-02T12:00:05Z', '0s ago'],
    ['not a time', '-'],
  ])('%s is %s', (iso, text) => {
    expect(formatSince(iso, now)).toBe(text);
  });
  it('prints --json output as indented JSON with a newline', () => {
    expect(jsonText({ a: [1] })).toBe('{\n  "a": [\n    1\n  ]\n}\n');
  });
});

const sandbox: SandboxObject = {
  name: 'dev',
  status: 'running',
  url: 'http://dev.localhost:7707/',
  url_settings: { auth: 'sprite' },
  labels: ['a', 'b'],
  environment: { K: 'V' },
  created_at: '2026-01-01T00:00:00Z',
  state: 'running',
  state_since: '2026-01-02T11:58:00Z',
  cpus: 2,
  memory_mib: 2048,
  disk_bytes: 100 * 1024 ** 3,
  image: 'dev',
  vmm: 'qemu',
  last_error: null,
};

describe('command tables', () => {
  it('hob ls', () => {
    expect(sandboxTable([sandbox, { ...sandbox, name: 'db', state: 'stopped', cpus: 1, memory_mib: 512, disk_bytes: 4 * 1024 ** 3, image: 'minimal' }], now)).toBe(
      [
        'NAME   STATE     SINCE    CPUS   MEMORY    DISK      IMAGE',
        'dev    running   2m ago   2      2 GiB     100 GiB   dev',
        'db     stopped   2m ago   1      512 MiB   4 GiB     minimal',
        '',
      ].join('\n'),
    );
  });
  it('hob info', () => {
    const text = sandboxFields(sandbox, now);
    expect(text).toContain('state:       running (since 2m ago)\n');
    expect(text).toContain('url:         http://dev.localhost:7707/ (private)\n');
    expect(text).toContain('labels:      a, b\n');
    expect(text).toContain('environment: K=V\n');
    expect(text).not.toContain('last error');
  });
  it('hob sessions ls', () => {
    const text = sessionTable(
      [
        { id: '12', command: 'bash -l', workdir: '', created: '2026-01-02T11:59:00Z', is_active: true, last_activity: '', tty: true, attached: 1, exited: false, exit_code: null },
        { id: '13', command: 'x'.repeat(80), workdir: '', created: '2026-01-02T11:00:00Z', is_active: false, last_activity: '', tty: false, attached: 0, exited: true, exit_code: 3 },
      ],
      now,
    );
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+COMMAND\s+TTY\s+CLIENTS\s+CREATED\s+STATE$/);
    expect(lines[1]).toMatch(/^12\s+bash -l\s+yes\s+1\s+1m ago\s+running$/);
    expect(lines[2]).toMatch(/^13\s+x{57}\.\.\.\s+no\s+0\s+1h ago\s+exited \(3\)$/);
  });
  it('hob token ls and the default token name', () => {
    expect(tokenTable([{ id: 'abc', name: 'ci', created_at: '2026-01-02T11:00:00Z', last_used_at: null, prefix: null, max_sandboxes: null }], now)).toBe(
      'ID    NAME   SCOPE   CREATED   LAST USED\nabc   ci     all     1h ago    never\n',
    );
    expect(tokenTable([{ id: 'abc', name: 'ci', created_at: '2026-01-02T11:00:00Z', last_used_at: null, prefix: 'agent-', max_sandboxes: 3 }], now)).toContain('agent-* (max 3)');
    expect(defaultTokenName(new Date('2026-03-04T05:06:07Z'))).toBe('token-20260304-050607');
  });
  it('hob images ls', () => {
    expect(imageTable([{ name: 'minimal', variant: 'minimal', arch: 'x86_64', kernel: '6.1.0-1-cloud-amd64', built_at: '2026-01-01T12:00:00Z', rootfs_bytes: 1024 ** 3 }, { name: 'odd', variant: null, arch: null, kernel: null, built_at: null, rootfs_bytes: null }], now)).toBe(
      [
        'NAME      VARIANT   ARCH     KERNEL                ROOTFS   BUILT',
        'minimal   minimal   x86_64   6.1.0-1-cloud-amd64   1 GiB    24h ago',
        'odd       -         -        -                     -        -',
        '',
      ].join('\n'),
    );
  });
});

describe('progress display', () => {
  class Capture extends Writable {
    text = '';
    constructor(readonly isTTY: boolean) {
      super();
    }
    override _write(chunk: Buffer, _e: BufferEncoding, done: () => void): void {
      this.text += chunk.toString();
      done();
    }
  }

  it('prints one line per step with the elapsed time when not on a terminal', () => {
    const out = new Capture(false);
    let t = 1_000;
    const p = createProgress(out, () => t);
    p.step('Creating disk...');
    t += 1_500;
    p.step('Booting VM...');
    p.done();
    expect(out.text).toBe('[  0.0s] Creating disk...\n[  1.5s] Booting VM...\n');
  });

  it('keeps each finished step as a ✓ line on a terminal, and marks a failure ✗', () => {
    const out = new Capture(true);
    let t = 0;
    const p = createProgress(out, () => t);
    p.step('Creating disk...');
    t = 500;
    p.step('Booting VM...');
    t = 2_500;
    p.fail();
    const lines = out.text.split('\n').map((l) => l.slice(l.lastIndexOf('\x1b[K') + 3));
    expect(lines).toEqual(['✓ Creating disk... 0.5s', '✗ Booting VM... 2.0s', '']);
  });
});
