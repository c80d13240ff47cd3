/**
 * Guest data on the dashboard's pages is text, never markup: file names,
 * diff paths and file contents, session commands and event details written
 * by a hostile guest come out escaped (hono's JSX escapes text and
 * attributes), and links to guest files carry the path percent-encoded.
 */
import { describe, expect, it } from 'vitest';
import { EventRows } from '../../daemon/dashboard/pages/events.js';
import { DiffView, FileDiff, FileList, SessionList } from '../../daemon/dashboard/pages/sandbox.js';

const EVIL = '<img src=x onerror=alert(1)>"\'&';

const html = (node: unknown): string => String(node);

describe('dashboard rendering of guest data', () => {
  it('escapes file names and encodes them in links', () => {
    const out = html(
      FileList({
        name: 'web',
        path: '/root',
        entries: [
          { name: EVIL, path: `/root/${EVIL}`, type: 'file', size: 1, mode: '0644', modTime: '2026-01-01T00:00:00Z', isDir: false },
          { name: `${EVIL}dir`, path: `/root/${EVIL}dir`, type: 'directory', size: 0, mode: '0755', modTime: '2026-01-01T00:00:00Z', isDir: true },
        ],
      }),
    );
    expect(out).not.toContain('<img');
    expect(out).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(out).toContain(`href="/v1/sandboxes/web/fs/read?path=${encodeURIComponent(`/root/${EVIL}`).replace(/'/g, '&#39;')}"`);
  });

  it('escapes diff paths and diff text', () => {
    const diff = html(DiffView({ diff: { from: 'v1', to: 'current', truncated: false, entries: [{ path: `/${EVIL}`, change: 'added', type: 'file', sizeBefore: null, sizeAfter: 3 }] } }));
    expect(diff).not.toContain('<img');
    const text = html(FileDiff({ path: `/${EVIL}`, text: `--- a\n+++ b\n@@ -1 +1 @@\n-${EVIL}\n+</pre><script>alert(1)</script>\n` }));
    expect(text).not.toContain('<img');
    expect(text).not.toContain('<script');
    expect(text).toContain('+&lt;/pre&gt;&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('escapes session commands and event details', () => {
    const sessions = html(
      SessionList({
        sessions: [{ id: 'abc', command: EVIL, workdir: '/', created: '', is_active: false, last_activity: '', tty: true, attached: 0, exited: false, exit_code: null, bytes_per_second: 0, pid: 1 }],
      }),
    );
    expect(sessions).not.toContain('<img');
    const events = html(EventRows({ events: [{ id: 1, at: '2026-01-01T00:00:00.000Z', sandbox: 'web', sandbox_id: 'x', type: 'state', data: { error: EVIL } }] }));
    expect(events).not.toContain('<img');
    expect(events).toContain('error=&lt;img');
  });
});
