/**
 * Debian's Chromium driven by playwright-core, run inside a test daemon's
 * network namespace (where hobd's TCP listener lives): the executable is a
 * small wrapper that enters the namespace first. Playwright talks to it over
 * a pipe, so nothing crosses the namespace but the browser's own requests.
 */
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import type { TestNetns } from './netns.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or undefined. */
export function browserUnavailable(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} (apt-get install chromium)`;
}

export interface NetnsBrowser {
  readonly browser: Browser;
  close(): Promise<void>;
}

export async function launchBrowserIn(netns: TestNetns): Promise<NetnsBrowser> {
  const dir = await mkdtemp(join(tmpdir(), 'hob-chromium-'));
  const wrapper = join(dir, 'chromium');
  await writeFile(wrapper, `#!/bin/sh\nexec nsenter --net=/run/netns/${netns.name} -- ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o755);
  const browser = await chromium.launch({
    executablePath: wrapper,
    args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking'],
    timeout: 120_000,
  });
  return {
    browser,
    close: async () => {
      await browser.close().catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
