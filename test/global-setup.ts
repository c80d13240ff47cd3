/**
 * vitest globalSetup: builds (or finds in the cache) the minimal guest image
 * once, before any test runs, so that no test pays for the build inside its
 * own timeout. Progress goes to stderr.
 *
 * Skipped when HOB_SKIP_IMAGE_BUILD=1, when this machine cannot build images
 * (not root, tools missing), and when every file filter on the command line
 * is under test/unit or test/browser (nothing there boots a VM). A failed build
 * does not abort the run: it is reported here, and the tests that need the
 * image fail with the same error when they call ensureTestImage().
 */
import { formatProgress } from '../guest-image/build/index.js';
import { ensureTestImage, imageBuildUnavailable } from './helpers/image.js';

function onlyUnitFilters(): boolean {
  const filters = process.argv.slice(2).filter((a) => !a.startsWith('-') && a !== 'run' && a !== 'watch');
  return filters.length > 0 && filters.every((f) => /(^|\/)test\/(unit|browser)(\/|$)/.test(f));
}

export default async function setup(): Promise<void> {
  if (process.env.HOB_SKIP_IMAGE_BUILD === '1') return;
  if (onlyUnitFilters()) return;
  const why = imageBuildUnavailable();
  if (why) {
    process.stderr.write(`[global-setup] not building the guest image: ${why}\n`);
    return;
  }
  process.stderr.write('[global-setup] guest image (minimal): building or reusing the cached one\n');
  try {
    const paths = await ensureTestImage((e) => {
      if (e.kind !== 'log') process.stderr.write(`[global-setup] ${formatProgress(e)}\n`);
    });
    process.stderr.write(`[global-setup] guest image ready: ${paths.dir}\n`);
  } catch (err) {
    process.stderr.write(`[global-setup] guest image build FAILED: ${(err as Error).message}\n`);
  }
}
