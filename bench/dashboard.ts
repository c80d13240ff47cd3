/**
 * The dashboard in Chromium (issue 15), `npm run bench -- dashboard`:
 * - time from navigation to a usable sandbox list (the 20 rows rendered and
 *   the page's module loaded) with 20 sandboxes (stopped: they cost no VM
 *   while measured), first load (empty cache) and later ones (median of 5);
 * - bytes transferred (headers and encoded bodies) for the first load and a
 *   later one (the hashed assets come from the cache);
 * - terminal keystroke echo round trip in the browser (key event to the echo
 *   drawn, median of 30) vs `hob console` in a pty (byte written to echo
 *   read, median of 30), on the same running sandbox.
 * - the dashboard's total weight: the sum of its assets, raw and gzip-compressed.
 * Under TCG the 20 creates of the set-up dominate the run: with warm templates on (run.ts turns
 * them on when `dashboard` is the only daemon suite named) each is a resume, not a boot, and the
 * sandboxes take the daemon's default shape, which is the template's.
 */
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import { loadAssets } from '../daemon/dashboard/assets.js';
import { launchBrowserIn } from '../test/helpers/browser.js';
import type { TestDaemon } from '../test/helpers/daemon.js';
import { median, time, type Record } from './measure.js';

/** The issue asks for 20; HOB_BENCH_DASHBOARD_SANDBOXES makes a quick run on a busy machine. */
const SANDBOXES = Number(process.env.HOB_BENCH_DASHBOARD_SANDBOXES ?? 20);
const REPO = resolve(import.meta.dirname, '..');

export async function benchDashboard(d: TestDaemon, record: Record): Promise<void> {
  const api = async (method: string, path: string, body?: object) => {
    const r = await d.request({ method, path, ...(body ? { body } : {}) });
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text()}`);
    return r;
  };
  const assets = await loadAssets();
  record(`dashboard: total weight of its ${assets.files.size} assets, raw`, assets.totalBytes / 1024, 'KiB');
  record(`dashboard: total weight of its ${assets.files.size} assets, gzip-compressed (what a browser downloads)`, assets.totalGzipBytes / 1024, 'KiB');
  await waitForTemplate(d);
  const names = Array.from({ length: SANDBOXES }, (_, i) => `dash-${String(i).padStart(2, '0')}`);
  // Two at a time: under TCG each create is a boot.
  for (let i = 0; i < names.length; i += 2) {
    await Promise.all(
      names.slice(i, i + 2).map(async (name) => {
        await api('POST', '/v1/sandboxes', { name });
        if (name !== names[0]) await api('POST', `/v1/sandboxes/${name}/stop`);
      }),
    );
  }
  const chrome = await launchBrowserIn(d.netns);
  try {
    const login = async () => {
      const r = await d.cli(['dashboard', '--json', '--no-open']);
      if (r.exitCode !== 0) throw new Error(`hob dashboard: ${r.stderr}`);
      return (JSON.parse(r.stdout) as { url: string }).url;
    };
    // A fresh context: an empty cache. The first load goes through the login link.
    const fresh = await chrome.browser.newContext({ viewport: { width: 1280, height: 800 } });
    const p = await fresh.newPage();
    const base = `http://127.0.0.1:${d.port}/`;
    const second = await login();
    const [firstMs, firstBytes] = await measureLoad(p, second, base);
    record(`dashboard: usable list of ${SANDBOXES} sandboxes, first load (login link included)`, firstMs, 'ms');
    record('dashboard: bytes transferred, first load', firstBytes / 1024, 'KiB');
    const later: number[] = [];
    let laterBytes = 0;
    for (let i = 0; i < 5; i++) {
      const [ms, bytes] = await measureLoad(p, base, base);
      later.push(ms);
      laterBytes = bytes;
    }
    record(`dashboard: usable list of ${SANDBOXES} sandboxes, later load (median of 5)`, median(later), 'ms');
    record('dashboard: bytes transferred, later load', laterBytes / 1024, 'KiB');

    // Keystroke echo in the browser's terminal.
    await p.goto(`${base}sandboxes/${names[0]}`);
    await p.click('#term-new');
    await p.locator('#terminal .xterm-rows', { hasText: '#' }).waitFor({ timeout: 120_000 });
    await p.evaluate(`(() => {
      const rows = document.querySelector('#terminal .xterm-rows');
      window.__echo = [];
      let sent = 0;
      document.querySelector('#terminal textarea').addEventListener('keydown', () => { sent = performance.now(); }, true);
      new MutationObserver(() => { if (sent) { window.__echo.push(performance.now() - sent); sent = 0; } }).observe(rows, { childList: true, subtree: true, characterData: true });
    })()`);
    for (let i = 0; i < 30; i++) {
      await p.keyboard.press('x');
      await p.waitForTimeout(50);
      for (let t = 0; t < 100 && ((await p.evaluate('window.__echo.length')) as number) <= i; t++) await p.waitForTimeout(20);
    }
    const browserEcho = (await p.evaluate('window.__echo')) as number[];
    record('terminal keystroke echo, browser (median of 30)', median(browserEcho), 'ms');

    const consoleEcho = await consoleEchoMs(d, names[0]!);
    record('terminal keystroke echo, hob console (median of 30)', median(consoleEcho), 'ms');
    record('browser vs hob console echo', median(browserEcho) / median(consoleEcho), 'ratio');
  } finally {
    await chrome.close();
    for (const name of names) await d.request({ method: 'DELETE', path: `/v1/sandboxes/${name}` });
  }
}

/** With templates on, waits until the default image's is ready, so that the creates resume it. */
async function waitForTemplate(d: TestDaemon): Promise<void> {
  // Queues the build if none is under way (a no-op with templates off), so that the list shows it.
  await d.request({ method: 'POST', path: '/v1/templates/minimal' });
  const t0 = performance.now();
  for (;;) {
    const r = await d.request({ path: '/v1/templates' });
    if (r.status !== 200) return;
    const t = r.json<{ templates: { image: string; state: string }[] }>().templates.find((x) => x.image === 'minimal');
    if (!t || t.state === 'ready' || t.state === 'failed') return;
    if (performance.now() - t0 > 900_000) throw new Error('no template after 15 minutes');
    await new Promise((res) => setTimeout(res, 500));
  }
}

/** Navigates and waits for a usable list; returns the time and the bytes transferred. */
async function measureLoad(page: Page, url: string, base: string): Promise<[number, number]> {
  const requests: Promise<number>[] = [];
  const onFinished = (request: import('playwright-core').Request) => {
    requests.push(request.sizes().then((s) => s.responseHeadersSize + s.responseBodySize, () => 0));
  };
  page.on('requestfinished', onFinished);
  const [ms] = await time(async () => {
    await page.goto(url);
    await page.waitForURL(base);
    await page.locator('#sandbox-rows tr[data-name]').nth(SANDBOXES - 1).waitFor();
    await page.waitForLoadState('load');
  });
  page.off('requestfinished', onFinished);
  const bytes = (await Promise.all(requests)).reduce((a, b) => a + b, 0);
  return [ms, bytes];
}

/** `hob console NAME` in a pty: time from writing a byte to reading its echo, 30 times. */
async function consoleEchoMs(d: TestDaemon, name: string): Promise<number[]> {
  const pty = await import('node-pty');
  const term = pty.spawn(join(REPO, 'node_modules/.bin/tsx'), [join(REPO, 'daemon/cli/main.ts'), '--socket', d.socketPath, 'console', name], {
    cols: 100,
    rows: 30,
    env: { ...process.env, TERM: 'xterm' } as { [key: string]: string },
  });
  let output = '';
  let waiter: (() => void) | undefined;
  term.onData((data) => {
    output += data;
    waiter?.();
  });
  const waitFor = (test: () => boolean, ms: number) =>
    new Promise<void>((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`hob console: timed out; output so far: ${output.slice(-300)}`)), ms);
      const check = () => {
        if (test()) {
          clearTimeout(timer);
          waiter = undefined;
          res();
        }
      };
      waiter = check;
      check();
    });
  try {
    await waitFor(() => /[#$] $/.test(output), 120_000);
    const samples: number[] = [];
    for (let i = 0; i < 30; i++) {
      const before = output.length;
      const t0 = performance.now();
      term.write('y');
      await waitFor(() => output.length > before && output.slice(before).includes('y'), 10_000);
      samples.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 50));
    }
    return samples;
  } finally {
    term.kill();
  }
}
