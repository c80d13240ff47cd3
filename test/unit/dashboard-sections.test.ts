/**
 * The dashboard's console log, services and host overview render guest text as text:
 * escape sequences removed, control and bidi characters made visible, markup escaped;
 * and the host figures come out as numbers a person reads.
 */
import { describe, expect, it } from 'vitest';
import { consoleDisplayText, dropPartialFirstLine } from '../../daemon/dashboard/console-text.js';
import { HostOverview } from '../../daemon/dashboard/pages/overview.js';
import { ConsoleLogView } from '../../daemon/dashboard/pages/sandbox-console.js';
import { ServiceLog, ServiceTable } from '../../daemon/dashboard/pages/sandbox-services.js';
import { SandboxRows } from '../../daemon/dashboard/pages/sandboxes.js';
import type { HostObject } from '../../daemon/wire/host.js';
import type { SpriteObject } from '../../daemon/wire/sprite.js';

const EVIL = '<img src=x onerror=alert(1)>';
const html = (node: unknown): string => String(node);

describe('consoleDisplayText', () => {
  it('removes escape sequences, keeps lines, shows the other controls as U+FFFD', () => {
    const raw = '\x1b[1;31mred\x1b[0m ok\r\n\x1b]0;title\x07x\x1b]8;;http://e\x1b\\link\x1b]8;;\x1b\\ \x9b2Jy\x00z\u202eabc\rprog 1\rprog 2\nab\x08c \x1bc\x1b(B end\x1b]unterminated';
    expect(consoleDisplayText(raw)).toBe('red ok\nxlink y\ufffdz\ufffdabc\nprog 1\nprog 2\nac  end');
    expect(consoleDisplayText('tab\there\n')).toBe('tab\there\n');
  });

  it('drops the partial first line of a cut tail only', () => {
    expect(dropPartialFirstLine('ine\nnext\n', true)).toBe('next\n');
    expect(dropPartialFirstLine('line\nnext\n', false)).toBe('line\nnext\n');
  });
});

describe('sections rendering guest text', () => {
  it('the console log: no markup, no escape sequences, the cut said', () => {
    const out = html(ConsoleLogView({ log: { name: 'web', text: `partial\n${EVIL}\x1b[2J</pre><script>x</script>\n`, bytes: 40, available_bytes: 1000, exists: true } }));
    expect(out).not.toContain('<img');
    expect(out).not.toContain('<script');
    expect(out).not.toContain('\x1b');
    expect(out).not.toContain('partial');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;&lt;/pre&gt;&lt;script&gt;');
    expect(out).toContain('The last 40 B of 1000 B kept.');
    expect(html(ConsoleLogView({ log: { name: 'web', text: '', bytes: 0, available_bytes: 0, exists: false } }))).toContain('has not booted since the host started');
  });

  it('services and their logs: names, commands, errors and lines escaped', () => {
    const table = html(
      ServiceTable({
        state: 'running',
        services: [{ name: 'web', cmd: EVIL, args: ['\x1b[31m'], env: {}, needs: [], log_file: '/x', state: { name: 'web', status: 'failed', error: EVIL, restart_count: 2, enabled: true } }],
      }),
    );
    expect(table).not.toContain('<img');
    expect(table).toContain('data-service-action="start"');
    expect(table).toContain('2 restarts');
    const log = html(ServiceLog({ service: 'web', entries: [{ type: 'stdout', data: `${EVIL}\x1b]0;t\x07\n`, timestamp: 1 }, { type: 'exit', exit_code: 3, timestamp: 2 }, { type: 'complete', timestamp: 3 }] }));
    expect(log).not.toContain('<img');
    expect(log).not.toContain('\x1b');
    expect(log).toContain('[exit (exit 3)]');
    expect(html(ServiceTable({ state: 'stopped', services: undefined }))).toContain('The sandbox is stopped');
  });

  it('the host overview: figures, the driver and why, doctor warnings escaped', () => {
    const host: HostObject = {
      cpu: { count: 2, load: [1.5, 1, 0.25], busy_percent: 37.5 },
      memory: { total_bytes: 8 * 1024 ** 3, available_bytes: 6 * 1024 ** 3 },
      pool: { size_bytes: 100 * 1024 ** 3, free_bytes: 60 * 1024 ** 3, used_bytes: 40 * 1024 ** 3 },
      vmm: { driver: 'qemu', kvm: false, reason: 'qemu under TCG software emulation (slow): KVM is not usable', problems: [] },
      doctor: { status: 'warn', checked_at: '2026-12-06T00:00:00Z', checks: [{ name: 'kvm', status: 'warn', detail: EVIL, fix: 'enable VT-x' }, { name: 'pool', status: 'ok', detail: 'fine' }] },
    };
    const out = html(HostOverview({ host }));
    expect(out).toContain('38% of 2 CPUs · load 1.50 1.00 0.25');
    expect(out).toContain('2 GiB used of 8 GiB');
    expect(out).toContain('<strong id="pool-free">60 GiB</strong> free of 100 GiB');
    expect(out).toContain('<strong id="vmm-driver">qemu</strong> (TCG)');
    expect(out).toContain('1 warning');
    expect(out).not.toContain('data-check="pool"');
    expect(out).not.toContain('<img');
    expect(html(HostOverview({ host: undefined, error: 'this token is limited' }))).toContain('not available: this token is limited');
  });

  it('the list shows disk used next to the size when it is known', () => {
    const s = { name: 'web', state: 'stopped', state_since: '2026-12-06T00:00:00Z', cpus: 1, memory_mib: 512, disk_bytes: 4 * 1024 ** 3, url: 'http://web.localhost:7707/', url_settings: { auth: 'sprite' }, image: 'minimal' } as unknown as SpriteObject;
    expect(html(SandboxRows({ sandboxes: [s], diskUsed: new Map([['web', 300 * 1024 ** 2]]) }))).toContain('<span class="disk-used">300 MiB / </span>4 GiB');
    expect(html(SandboxRows({ sandboxes: [s] }))).not.toContain('disk-used');
  });
});
