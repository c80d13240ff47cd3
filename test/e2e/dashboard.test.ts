/**
 * The dashboard in a real browser (issue 15): Debian's Chromium, driven by
 * playwright-core, inside the test daemon's network namespace, against a real
 * hobd and real VMs (one made by the CLI, one from the create form).
 *
 * Covered: the login link logs in (cookie host-only, HttpOnly,
 * SameSite=Strict, expiring) and works once; the list shows the sandbox; a
 * create from the form shows the row going from creating to running without
 * a reload; the terminal runs `echo hi` and follows the window's size (`stty
 * size`); an upload is read back with exec; checkpoint from the timeline,
 * wreck files in the terminal, the diff shows exactly that change (and the
 * per-file text diff), restore from the timeline brings the files back; a
 * bad policy rule shows an error and changes nothing; a request with the
 * cookie but without the CSRF token, or from the sandbox's own origin, is
 * refused; a page served from the sandbox URL can neither read nor drive the
 * dashboard; the overview shows the host (CPU, memory, pool, the VMM and
 * why, doctor's warnings) and disk used per sandbox; a guest flooding its
 * serial console leaves the console-log route in its bounds and hobd's
 * memory flat, and the page shows the flood as text; services stop, start
 * and show their log; accessibility basics: every form control of every page has a
 * name, Tab reaches the list's row actions and the create form with a visible
 * focus ring, a confirmation starts on Cancel and Escape or Enter there
 * changes nothing, F6 leaves the terminal, and no page scrolls sideways at
 * 390 px. Screenshots of each page go to /tmp/hob-dash-shots/ (outside the
 * repository). The `it`s share the daemon, the browser and the sandbox, and
 * run in order. No timing is asserted.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserUnavailable, launchBrowserIn, type NetnsBrowser } from '../helpers/browser.js';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.js';
import { vmDaemonUnavailable } from '../helpers/image.js';
import { ConsoleLogObject } from '../../daemon/wire/console-log.js';
import { HostObject } from '../../daemon/wire/host.js';

const missing = vmDaemonUnavailable() ?? browserUnavailable();
if (missing) console.warn(`dashboard e2e tests skipped: missing ${missing}`);

const SHOTS = '/tmp/hob-dash-shots';
const NAME = 'web';
/** Deadline for VM work under TCG on a loaded machine. */
const VM_DEADLINE_MS = 240_000;

describe.skipIf(missing !== undefined)('dashboard in Chromium', () => {
  let daemon: TestDaemon;
  let chrome: NetnsBrowser;
  let context: BrowserContext;
  let page: Page;
  let loginUrl: string;

  const shot = (name: string, p: Page = page) => p.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  const exec = async (command: string) => {
    const r = await daemon.cli(['exec', NAME, '--', 'sh', '-c', command]);
    expect(r.exitCode, r.stderr).toBe(0);
    return r.stdout;
  };
  const state = async (name: string) => (await daemon.request({ path: `/v1/sandboxes/${name}` })).json<{ state: string }>().state;
  const login = async () => {
    const r = await daemon.cli(['dashboard', '--json', '--no-open']);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { url: string; expires_at: string; opened: boolean };
  };
  /** The terminal's rows as text. */
  const termLines = (): Promise<string[]> =>
    page.$$eval('#terminal .xterm-rows > div', (rows) => rows.map((r) => (r.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()));
  const waitForLine = async (match: (line: string) => boolean, what: string) => {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if ((await termLines()).some(match)) return;
      await page.waitForTimeout(200);
    }
    throw new Error(`the terminal never showed ${what}:\n${(await termLines()).join('\n')}`);
  };
  /** Confirms the open confirmation dialog (a `<dialog>`, not the browser's own). */
  const confirmDialog = async () => {
    await page.click('#confirm-dialog button[value="ok"]');
    await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
  };
  const typeLine = async (text: string) => {
    await page.locator('#terminal textarea').pressSequentially(text);
    await page.keyboard.press('Enter');
  };

  beforeAll(async () => {
    await mkdir(SHOTS, { recursive: true });
    daemon = await startTestDaemon();
    const created = await daemon.cli(['create', NAME]);
    expect(created.exitCode, created.stderr).toBe(0);
    await exec('mkdir -p /root/work && printf "old line\\nsame\\n" > /root/work/notes.txt && echo precious > /root/work/keep.txt && sync');
    chrome = await launchBrowserIn(daemon.netns);
    context = await chrome.browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await context.newPage();
  });

  afterAll(async () => {
    await chrome?.close();
    await daemon?.stop();
  });

  it('logs in with the one-time link; the list shows the sandbox; the cookie is host-only, HttpOnly, SameSite=Strict', async () => {
    const link = await login();
    loginUrl = link.url;
    expect(link.url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${daemon.port}/login\\?code=`));
    expect(link.opened).toBe(false);
    await page.goto(link.url);
    await page.waitForURL(`http://127.0.0.1:${daemon.port}/`);
    const row = page.locator(`tr[data-name="${NAME}"]`);
    await row.waitFor();
    expect(await row.getAttribute('data-state')).toBe('running');
    const [cookie, ...others] = await context.cookies();
    expect(others).toEqual([]);
    expect(cookie).toMatchObject({ name: 'hob_dash', domain: '127.0.0.1', path: '/', httpOnly: true, sameSite: 'Strict' });
    expect(cookie!.expires).toBeGreaterThan(Date.now() / 1000);
    expect(await page.evaluate('document.cookie')).toBe('');
    await shot('list');
  });

  it('the overview: host CPU, memory and pool, the VMM driver and why, doctor\'s warnings; disk used in the list', async () => {
    const host = HostObject.parse((await daemon.request({ path: '/v1/host' })).json());
    const vmm = (await daemon.request({ path: `/v1/sandboxes/${NAME}` })).json<{ vmm: string }>().vmm;
    expect(host.vmm.driver).toBe(vmm);
    expect(host.pool.size_bytes).toBeGreaterThan(host.pool.free_bytes);
    expect(host.memory.total_bytes).toBeGreaterThan(0);
    await page.goto(`http://127.0.0.1:${daemon.port}/`);
    expect(await page.textContent('#vmm-driver')).toBe(vmm);
    expect(await page.textContent('#host-overview')).toContain(host.vmm.reason);
    expect(await page.textContent('#host-overview')).toMatch(new RegExp(`of ${host.cpu.count} CPUs`));
    expect(await page.textContent('#pool-free')).toMatch(/^\d+(\.\d)? [KMGT]iB$/);
    const warned = host.doctor.checks.filter((c) => c.status !== 'ok').map((c) => c.name);
    expect(await page.$$eval('#doctor-warnings li', (lis) => lis.map((li) => li.getAttribute('data-check')))).toEqual(warned);
    if (!existsSync('/dev/kvm')) expect(warned).toContain('kvm'); // TCG here: doctor says why
    // Disk used comes from the stats sampler's next tick (5 s): the list's own refresh shows it.
    await page.locator(`tr[data-name="${NAME}"] .disk-used`).waitFor({ timeout: 30_000 });
    expect(await page.textContent(`tr[data-name="${NAME}"] .disk-used`)).toMatch(/^\d+(\.\d)? [KMG]iB \/ $/);
    await shot('overview');
  });

  it('refuses a login link the second time', async () => {
    const other = await context.browser()!.newContext();
    const p = await other.newPage();
    const response = await p.goto(loginUrl);
    expect(response?.status()).toBe(401);
    expect(await p.textContent('main')).toContain('not valid');
    expect(await other.cookies()).toEqual([]);
    await shot('login-refused', p);
    await other.close();
  });

  it('refuses a state change with the cookie but without the CSRF token, and from a foreign origin', async () => {
    const noToken = await page.evaluate(async (name) => {
      const r = await fetch(`/v1/sandboxes/${name}/stop`, { method: 'POST' });
      return { status: r.status, body: await r.text() };
    }, NAME);
    expect(noToken.status).toBe(403);
    expect(noToken.body).toContain('CSRF');
    expect(noToken.body).not.toMatch(/\n\s+at /); // no stack trace
    const cookie = (await context.cookies())[0]!;
    const csrf = await page.getAttribute('meta[name="hob-csrf"]', 'content');
    const foreign = await daemon.tcpRequest({
      method: 'POST',
      path: `/v1/sandboxes/${NAME}/stop`,
      headers: { cookie: `hob_dash=${cookie.value}`, 'x-hob-csrf': csrf!, origin: `http://${NAME}.localhost:${daemon.port}` },
    });
    expect(foreign.status).toBe(403);
    expect(await state(NAME)).toBe('running');
    // The same cookie and token from the dashboard's own origin do work: it is one more API client.
    const own = await daemon.tcpRequest({ path: `/v1/sandboxes/${NAME}`, headers: { cookie: `hob_dash=${cookie.value}` } });
    expect(own.status).toBe(200);
  });

  it('a page served from the sandbox URL can neither read nor drive the dashboard', async () => {
    // A second browser logged in at localhost (same site as <name>.localhost: the harder case).
    const link = await login();
    const other = await context.browser()!.newContext();
    const p = await other.newPage();
    await p.goto(link.url.replace('127.0.0.1', 'localhost'));
    await p.waitForURL(`http://localhost:${daemon.port}/`);
    for (const [ctx, dashboard] of [
      [p, `http://localhost:${daemon.port}`],
      [page, `http://127.0.0.1:${daemon.port}`],
    ] as const) {
      await ctx.goto(`http://${NAME}.localhost:${daemon.port}/`); // the sandbox's origin (its private URL refuses us: no matter)
      const outcome = await ctx.evaluate(
        async ({ dashboard, name }) => {
          const out: Record<string, string> = {};
          try {
            const r = await fetch(`${dashboard}/v1/sandboxes`, { credentials: 'include' });
            out.read = `read ${r.status}`;
          } catch {
            out.read = 'blocked';
          }
          try {
            const r = await fetch(`${dashboard}/`, { credentials: 'include' });
            out.page = `read ${r.status}`;
          } catch {
            out.page = 'blocked';
          }
          await fetch(`${dashboard}/v1/sandboxes/${name}/stop`, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => undefined);
          await fetch(`${dashboard}/v1/sandboxes/${name}/policy/network`, {
            method: 'POST',
            mode: 'no-cors',
            credentials: 'include',
            headers: { 'content-type': 'text/plain' },
            body: '{"rules":[{"domain":"evil.example","action":"allow"}]}',
          }).catch(() => undefined);
          out.ws = await new Promise<string>((resolve) => {
            const ws = new WebSocket(`${dashboard.replace('http', 'ws')}/v1/sandboxes/${name}/exec?tty=true`);
            ws.onopen = () => resolve('open');
            ws.onerror = () => resolve('refused');
          });
          return out;
        },
        { dashboard, name: NAME },
      );
      expect(outcome).toEqual({ read: 'blocked', page: 'blocked', ws: 'refused' });
    }
    expect(await state(NAME)).toBe('running');
    expect((await daemon.request({ path: `/v1/sandboxes/${NAME}/policy/network` })).json()).toEqual({ rules: [] });
    await other.close();
  });

  it('creates a sandbox from the form: the row goes from creating to running without a reload', async () => {
    await page.goto(`http://127.0.0.1:${daemon.port}/`);
    await page.evaluate('window.marker = 42');
    await page.fill('#create input[name="name"]', 'two');
    await page.click('#create button[type="submit"]');
    await page.locator('tr[data-name="two"][data-state="creating"]').waitFor({ timeout: VM_DEADLINE_MS });
    await shot('create-progress');
    await page.locator('tr[data-name="two"][data-state="running"]').waitFor({ timeout: VM_DEADLINE_MS });
    expect(await page.evaluate('window.marker')).toBe(42);
    expect(await page.textContent('#create-progress')).toContain('created two');
    await shot('create-done');
    // A change made elsewhere (the CLI) shows up without a reload too (the live event log).
    expect((await daemon.cli(['stop', 'two'])).exitCode).toBe(0);
    await page.locator('tr[data-name="two"][data-state="stopped"]').waitFor();
    expect(await page.evaluate('window.marker')).toBe(42);
    // Removed again through its row (confirmed), to free the machine.
    await page.click('tr[data-name="two"] button[data-action="remove"]');
    await confirmDialog();
    await page.locator('tr[data-name="two"]').waitFor({ state: 'detached', timeout: VM_DEADLINE_MS });
  });

  it('terminal: echo hi shows hi; stty size follows the window', async () => {
    await page.goto(`http://127.0.0.1:${daemon.port}/sandboxes/${NAME}`);
    // The resource graphs (uPlot, fed by GET .../stats): CPU, memory, disk.
    await page.locator('#charts .uplot').nth(2).waitFor();
    expect(await page.$$eval('#charts .uplot .u-title', (els) => els.map((e) => e.textContent))).toEqual(['CPU', 'Memory', 'Disk used']);
    await page.click('#term-new');
    await waitForLine((l) => /[#$] ?$/.test(l), 'a prompt');
    await typeLine('echo hi');
    await waitForLine((l) => l === 'hi', 'hi');
    await shot('terminal');
    await typeLine('stty size');
    await waitForLine((l) => /^\d+ \d+$/.test(l), 'the size');
    const wide = (await termLines()).filter((l) => /^\d+ \d+$/.test(l)).at(-1)!;
    await page.setViewportSize({ width: 640, height: 800 });
    await typeLine('clear; stty size');
    await waitForLine((l) => /^\d+ \d+$/.test(l) && l !== wide, 'a new size');
    const narrow = (await termLines()).filter((l) => /^\d+ \d+$/.test(l)).at(-1)!;
    expect(Number(narrow.split(' ')[1])).toBeLessThan(Number(wide.split(' ')[1]));
    await shot('terminal-narrow');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  it('uploads a file that exec then reads back', async () => {
    await page.fill('#files-go input[name="path"]', '/root/work');
    await page.click('#files-go button[type="submit"]');
    await page.locator('#file-list[data-path="/root/work"]').waitFor();
    await page.setInputFiles('#upload input[type="file"]', { name: 'up.txt', mimeType: 'text/plain', buffer: Buffer.from('uploaded from the browser\n') });
    await page.click('#upload button[type="submit"]');
    await page.locator('#file-list a', { hasText: 'up.txt' }).waitFor();
    expect(await exec('cat /root/work/up.txt')).toBe('uploaded from the browser'); // execa drops the last newline
    await exec('rm /root/work/up.txt && sync');
    await shot('files');
  });

  it('checkpoint, wreck through the terminal, diff shows exactly that, restore from the timeline brings it back', async () => {
    await page.fill('#checkpoint-create input[name="comment"]', 'before the wreck');
    await page.click('#checkpoint-create button[type="submit"]');
    await page.locator('#checkpoint-list li[data-id="v1"]').waitFor({ timeout: VM_DEADLINE_MS });
    expect(await page.textContent('#checkpoint-list li[data-id="v1"]')).toContain('before the wreck');

    await typeLine('rm /root/work/keep.txt; printf "new line\\nsame\\n" > /root/work/notes.txt; echo junk > /root/work/junk.txt; sync; echo wrecked');
    await waitForLine((l) => l === 'wrecked', 'wrecked');

    await page.fill('#diff-form input[name="from"]', 'v1');
    await page.fill('#diff-form input[name="path"]', '/root/work');
    await page.click('#diff-form button[type="submit"]');
    await page.locator('#diff-view').waitFor();
    const entries = await page.$$eval('#diff-view .diff-entries li', (lis) => lis.map((li) => (li.textContent ?? '').replace(/\s+/g, ' ').trim()));
    expect(entries.map((e) => e.split(' ').slice(0, 2).join(' '))).toEqual(['A /root/work/junk.txt', 'D /root/work/keep.txt', 'M /root/work/notes.txt']);
    await page.click('#diff-view button[data-file="/root/work/notes.txt"]');
    await page.locator('#file-diff .file-diff').waitFor();
    expect(await page.$$eval('#file-diff .add, #file-diff .del', (els) => els.map((e) => (e.textContent ?? '').trimEnd()))).toEqual(['-old line', '+new line']);
    await shot('diff');

    await page.click('#checkpoint-list button[data-cp-action="restore"][data-id="v1"]');
    await confirmDialog();
    // Locators, not waitForFunction: the page's CSP forbids the eval that takes.
    await page.locator('#checkpoint-progress', { hasText: 'Restored to v1' }).waitFor({ timeout: VM_DEADLINE_MS });
    expect(await exec('cat /root/work/keep.txt /root/work/notes.txt; ls /root/work')).toBe('precious\nold line\nsame\nkeep.txt\nnotes.txt');
    await shot('restored');
  });

  it('the event log: the sandbox history and the filtered events page show the checkpoint and restore', async () => {
    await page.locator('#event-rows tr', { hasText: 'restore' }).first().waitFor();
    await page.goto(`http://127.0.0.1:${daemon.port}/events?sandbox=${NAME}&type=checkpoint`);
    const rows = await page.$$eval('#event-rows tr', (trs) => trs.map((tr) => (tr.textContent ?? '').replace(/\s+/g, ' ')));
    expect(rows.length).toBeGreaterThanOrEqual(1);
    for (const row of rows) expect(row).toContain('checkpoint');
    expect(rows.some((r) => r.includes('seq=1'))).toBe(true); // v1
    await shot('events');
    await page.goto(`http://127.0.0.1:${daemon.port}/events?since=yesterday`);
    expect(await page.textContent('main .error')).toContain('since');
    await page.goto(`http://127.0.0.1:${daemon.port}/sandboxes/${NAME}`);
  });

  it('a hostile guest floods its serial console: the route stays in its bound, hobd too, the page shows it as text', async () => {
    const rssKiB = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${daemon.pid()!}/status`, 'utf8'))?.[1]);
    const before = await rssKiB();
    await page.goto(`http://127.0.0.1:${daemon.port}/sandboxes/${NAME}`);
    // Random bytes (invalid UTF-8, every control byte), then markup and escape sequences, then a marker.
    // 96 KiB, more than the page's 64 KiB tail: QEMU's 16550 paces its output at 115200 baud (about
    // 11 KiB/s), so megabytes would take minutes here; the files' 1 MiB bound under megabytes is
    // test/unit/vmm-console-log.test.ts's (a fake console socket as fast as it goes).
    await exec(
      'head -c 96K /dev/urandom > /dev/ttyS0; ' +
        `printf '\\033]0;pwned\\007\\033[2J<img src=x onerror=alert(1)></pre><script>alert(2)</script>\\033[31mMARKER-END\\n' > /dev/ttyS0`,
    );
    let log = ConsoleLogObject.parse((await daemon.request({ path: `/v1/sandboxes/${NAME}/console-log`, headers: { accept: 'application/json' } })).json());
    for (let i = 0; i < 50 && !log.text.includes('MARKER-END'); i++) {
      await page.waitForTimeout(200); // hobd copies the socket into the file in batches
      log = ConsoleLogObject.parse((await daemon.request({ path: `/v1/sandboxes/${NAME}/console-log`, headers: { accept: 'application/json' } })).json());
    }
    expect(log.text).toContain('MARKER-END');
    expect(log.bytes).toBe(64 * 1024); // the default tail
    expect(log.available_bytes).toBeLessThanOrEqual(1024 * 1024); // two rotated files of 512 KiB
    const raw = await daemon.request({ path: `/v1/sandboxes/${NAME}/console-log?tail=1048576` });
    expect(raw.status).toBe(200);
    expect(raw.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(raw.body.length).toBe(log.available_bytes);
    expect(await rssKiB()).toBeLessThan(before + 64 * 1024); // the flood went through hobd; none of it stayed

    await page.click('#console-refresh');
    await page.locator('#console-log pre', { hasText: 'MARKER-END' }).waitFor();
    expect(await page.locator('#console-log img, #console-log script').count()).toBe(0);
    const shown = (await page.textContent('#console-log pre'))!;
    expect(shown).toContain('<img src=x onerror=alert(1)></pre><script>alert(2)</script>MARKER-END');
    expect(shown).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(await page.title()).not.toContain('pwned');
    await shot('console-log');
  });

  it('services: status, stop and start, the log tail', async () => {
    const created = await daemon.cli(['services', 'create', NAME, 'ticker', '--duration', '0', '--', 'sh', '-c', 'while true; do echo tick-$$; sleep 1; done']);
    expect(created.exitCode, created.stderr).toBe(0);
    await page.click('#services-refresh');
    const row = page.locator('#services tr[data-service="ticker"]');
    await page.locator('#services tr[data-service="ticker"][data-status="running"]').waitFor();
    await row.locator('button[data-service-action="log"]').click();
    await page.locator('#service-log pre', { hasText: 'tick-' }).waitFor({ timeout: 30_000 });
    await shot('services');
    await row.locator('button[data-service-action="stop"]').click();
    await confirmDialog();
    await page.locator('#services tr[data-service="ticker"][data-status="stopped"]').waitFor({ timeout: 60_000 });
    const stopped = (await daemon.request({ path: `/v1/sandboxes/${NAME}/services/ticker` })).json<{ state: { status: string } }>();
    expect(stopped.state.status).toBe('stopped');
    await page.locator('#services tr[data-service="ticker"] button[data-service-action="start"]').click();
    await page.locator('#services tr[data-service="ticker"][data-status="running"]').waitFor({ timeout: 60_000 });
    expect((await daemon.cli(['services', 'rm', NAME, 'ticker'])).exitCode).toBe(0);
  });

  it('a bad policy rule shows the error and changes nothing', async () => {
    const before = (await daemon.request({ path: `/v1/sandboxes/${NAME}/policy/network` })).json();
    await page.fill('#policy-text', JSON.stringify({ rules: [{ domain: 'not a domain!', action: 'allow' }] }));
    await page.click('#policy button[type="submit"]');
    await page.locator('#policy-error:not(:empty)').waitFor();
    expect(await page.textContent('#policy-error')).toMatch(/domain|rule/i);
    expect((await daemon.request({ path: `/v1/sandboxes/${NAME}/policy/network` })).json()).toEqual(before);
    await shot('policy-error');
  });

  it('images and tokens: a token is shown once at creation and can be revoked', async () => {
    await page.goto(`http://127.0.0.1:${daemon.port}/images`);
    await page.locator('#image-rows tr[data-name="minimal"]').waitFor();
    await shot('images');
    await page.goto(`http://127.0.0.1:${daemon.port}/tokens`);
    await page.fill('#token-create input[name="name"]', 'from-the-browser');
    await page.click('#token-create button[type="submit"]');
    await page.locator('#token-value', { hasText: 'hob_' }).waitFor();
    const token = (await page.textContent('#token-value'))!;
    const row = page.locator('#token-rows tr', { hasText: 'from-the-browser' });
    await row.waitFor();
    await shot('tokens');
    const withToken = await daemon.tcpRequest({ path: '/v1/sandboxes', headers: { authorization: `Bearer ${token}` } });
    expect(withToken.status).toBe(200);
    await row.locator('button[data-revoke-token]').click();
    await confirmDialog();
    await row.waitFor({ state: 'detached' });
    const revoked = await daemon.tcpRequest({ path: '/v1/sandboxes', headers: { authorization: `Bearer ${token}` } });
    expect(revoked.status).toBe(401);
  });

  it('keyboard: Tab reaches the row actions and the create form with a visible ring; a confirmation starts on Cancel; every control is named', async () => {
    const base = `http://127.0.0.1:${daemon.port}`;
    /** Controls without an accessible name (label, aria-label, aria-labelledby or title). */
    const unnamed = async () =>
      (await page.evaluate(`[...document.querySelectorAll('input:not([type="hidden"]), select, textarea')]
        .filter((el) => {
          const text = (e) => (e?.textContent ?? '').trim() !== '';
          const byLabel = [...(el.labels ?? [])].some(text);
          const byAria = (el.getAttribute('aria-label') ?? '').trim() !== '';
          const byIds = (el.getAttribute('aria-labelledby') ?? '').split(/\\s+/).some((id) => id !== '' && text(document.getElementById(id)));
          return !(byLabel || byAria || byIds || (el.getAttribute('title') ?? '').trim() !== '');
        })
        .map((el) => el.outerHTML.slice(0, 160))`)) as string[];
    await page.goto(`${base}/`);
    const focused: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const [what, outline] = (await page.evaluate(
        "(() => { const e = document.activeElement; return [e.getAttribute('aria-label') || e.getAttribute('name') || e.textContent.trim(), getComputedStyle(e).outlineStyle]; })()",
      )) as [string, string];
      focused.push(what);
      expect(outline, `focus ring on ${what}`).toBe('solid');
      if (what === 'Create') break;
    }
    // In document order: skip link, navigation, the rows' actions, then the create form.
    expect(focused[0]).toBe('Skip to content');
    const at = (name: string) => focused.indexOf(name);
    expect(at(`stop ${NAME}`)).toBeGreaterThan(at('Tokens'));
    expect(at('name')).toBeGreaterThan(at(`remove ${NAME}`));
    expect(focused.slice(at('name'))).toEqual(['name', 'image', 'from', 'cpus', 'memory', 'disk', 'Create']);
    await shot('focus');

    // A confirmation opened from the keyboard starts on Cancel: Escape, or Enter right away, changes nothing.
    const stop = page.locator(`button[data-action="stop"][data-name="${NAME}"]`);
    await stop.focus();
    await page.keyboard.press('Enter');
    await page.locator('#confirm-dialog').waitFor();
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Cancel');
    expect(await unnamed()).toEqual([]);
    await shot('confirm');
    await page.keyboard.press('Escape');
    await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
    expect(await page.evaluate('document.activeElement.getAttribute("aria-label")')).toBe(`stop ${NAME}`); // focus is back
    await page.keyboard.press('Enter');
    await page.locator('#confirm-dialog').waitFor();
    await page.keyboard.press('Enter');
    await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
    expect(await state(NAME)).toBe('running');
    expect(await unnamed()).toEqual([]);

    // Every page's controls have a name; on the sandbox page, F6 takes the focus out of the terminal (Tab stays in it: completion).
    for (const path of ['/images', '/tokens', `/events?sandbox=${NAME}`]) {
      await page.goto(`${base}${path}`);
      expect({ path, unnamed: await unnamed() }).toEqual({ path, unnamed: [] });
    }
    await page.goto(`${base}/sandboxes/${NAME}`);
    await page.locator('#file-list').waitFor();
    expect(await unnamed()).toEqual([]);
    await page.click('#terminal');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('!!document.activeElement.closest("#terminal")')).toBe(true);
    await page.keyboard.press('F6');
    expect(await page.evaluate('!document.activeElement.closest("#terminal") && document.activeElement !== document.body')).toBe(true);
    // The fork dialog's field is labelled and has the focus; Escape cancels.
    await page.locator('#checkpoint-list button[data-cp-action="fork"]').first().click();
    await page.locator('#confirm-dialog input').waitFor();
    expect(await page.evaluate('document.activeElement.name')).toBe('value');
    expect(await unnamed()).toEqual([]);
    await page.keyboard.press('Escape');
    await page.locator('#confirm-dialog').waitFor({ state: 'detached' });
  });

  it('narrow window (390 px): no page scrolls sideways; wide tables scroll inside their box', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      for (const path of ['/', `/sandboxes/${NAME}`, '/images', '/tokens', '/events', '/sandboxes/nope']) {
        await page.goto(`http://127.0.0.1:${daemon.port}${path}`);
        if (path === `/sandboxes/${NAME}`) await page.locator('#charts .uplot').nth(2).waitFor();
        const overflow = await page.evaluate('document.documentElement.scrollWidth - document.documentElement.clientWidth');
        expect({ path, overflow }).toEqual({ path, overflow: 0 });
        await shot(`narrow${path.replace(/\W+/g, '-')}`);
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  it('logs out: the cookie no longer works', async () => {
    const cookie = (await context.cookies())[0]!;
    await page.goto(`http://127.0.0.1:${daemon.port}/`);
    await page.click('#logout');
    await page.locator('h1', { hasText: 'Log in to hob' }).waitFor();
    expect(await context.cookies()).toEqual([]);
    const after = await daemon.tcpRequest({ path: `/v1/sandboxes/${NAME}`, headers: { cookie: `hob_dash=${cookie.value}` } });
    expect(after.status).toBe(401);
    await shot('logged-out');
  });
});
