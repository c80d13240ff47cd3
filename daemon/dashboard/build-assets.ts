/**
 * `npm run build`'s last step: bundles the dashboard's client modules into
 * dist/dashboard-assets/ (see assets.ts), so that an installed hobd needs no
 * esbuild. Prints the total weight.
 */
import { writeBundles } from './assets.js';

const assets = await writeBundles();
process.stdout.write(`dashboard assets: ${assets.files.size} files, ${Math.round(assets.totalBytes / 1024)} KiB (${Math.round(assets.totalGzipBytes / 1024)} KiB gzip-compressed)\n`);
