/**
 * The dashboard's static assets: the client modules (`client/*.ts`, bundled
 * with esbuild, xterm.js and uPlot included) and one stylesheet, served by
 * hobd under content-hashed names with `Cache-Control: immutable`
 * (docs/architecture.md §13).
 *
 * `npm run build` writes the bundles to `dist/dashboard-assets/` (run
 * `node dist/daemon/dashboard/build-assets.js`); an installed hob serves
 * those, and has no esbuild at run time. Run from the sources (tsx), hobd
 * bundles them in memory at the first dashboard request.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository (or installed app) root: two levels up in the sources, three in dist/. */
const ROOT = existsSync(resolve(HERE, '../../package.json')) ? resolve(HERE, '../..') : resolve(HERE, '../../..');
/** The client sources (dist/ has none: they are bundled from here). */
const CLIENT_DIR = join(ROOT, 'daemon/dashboard/client');
/**
 * Where `npm run build` puts the bundles, dist/dashboard-assets, seen from dist/daemon/dashboard/.
 * From the sources this names <root>/dashboard-assets, which does not exist: a tsx run always
 * bundles afresh and never serves a stale build.
 */
export const PREBUILT_DIR = resolve(HERE, '../../dashboard-assets');

/** The entry points, by logical name. */
const ENTRIES = { 'list.js': 'list.ts', 'sandbox.js': 'sandbox.ts', 'page.js': 'page.ts', 'style.css': 'style.css' } as const;
export type AssetName = keyof typeof ENTRIES;

export interface Asset {
  readonly body: Buffer;
  /** The same, gzip-compressed (served to browsers that accept it). */
  readonly gzip: Buffer;
  readonly type: string;
}

export interface Assets {
  /** Logical name (`list.js`) -> served path (`/assets/list-<hash>.js`). */
  readonly paths: Readonly<Record<AssetName, string>>;
  /** Served file name (`list-<hash>.js`) -> content. */
  readonly files: ReadonlyMap<string, Asset>;
  /** Bytes of all assets (uncompressed). */
  readonly totalBytes: number;
  /** Bytes of all assets gzip-compressed (what a browser downloads). */
  readonly totalGzipBytes: number;
}

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** Bundles the client modules; returns logical name -> content. */
export async function bundleClient(): Promise<Map<AssetName, Buffer>> {
  const esbuild = await import('esbuild');
  const out = new Map<AssetName, Buffer>();
  for (const [name, entry] of Object.entries(ENTRIES) as [AssetName, string][]) {
    const result = await esbuild.build({
      entryPoints: [join(CLIENT_DIR, entry)],
      bundle: true,
      minify: true,
      format: 'esm',
      target: 'es2022',
      platform: 'browser',
      write: false,
      legalComments: 'none',
      logLevel: 'silent',
      outfile: join('/out', name),
      tsconfig: join(CLIENT_DIR, 'tsconfig.json'),
    });
    const file = result.outputFiles.find((f) => f.path.endsWith(extname(name)) && !f.path.endsWith('.map'));
    if (!file) throw new Error(`esbuild produced no ${name}`);
    out.set(name, Buffer.from(file.contents));
  }
  return out;
}

function hashed(name: string, body: Buffer): string {
  const ext = extname(name);
  const hash = createHash('sha256').update(body).digest('base64url').slice(0, 12);
  return `${name.slice(0, -ext.length)}-${hash}${ext}`;
}

function assemble(contents: Map<AssetName, Buffer>): Assets {
  const paths = {} as Record<AssetName, string>;
  const files = new Map<string, Asset>();
  let totalBytes = 0;
  let totalGzipBytes = 0;
  for (const [name, body] of contents) {
    const file = hashed(name, body);
    paths[name] = `/assets/${file}`;
    const gzip = gzipSync(body, { level: 9 });
    files.set(file, { body, gzip, type: TYPES[extname(name)] ?? 'application/octet-stream' });
    totalBytes += body.length;
    totalGzipBytes += gzip.length;
  }
  return { paths, files, totalBytes, totalGzipBytes };
}

/** Writes the bundles to `dir` (`npm run build`). */
export async function writeBundles(dir: string = PREBUILT_DIR): Promise<Assets> {
  const contents = await bundleClient();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  for (const [name, body] of contents) await writeFile(join(dir, name), body);
  return assemble(contents);
}

async function readPrebuilt(dir: string): Promise<Map<AssetName, Buffer> | undefined> {
  if (!existsSync(dir)) return undefined;
  const present = new Set(await readdir(dir));
  const out = new Map<AssetName, Buffer>();
  for (const name of Object.keys(ENTRIES) as AssetName[]) {
    if (!present.has(name)) return undefined;
    out.set(name, await readFile(join(dir, name)));
  }
  return out;
}

let loading: Promise<Assets> | undefined;

/** The assets: prebuilt ones when there are, else bundled now (once per process). */
export function loadAssets(): Promise<Assets> {
  loading ??= (async () => assemble((await readPrebuilt(PREBUILT_DIR)) ?? (await bundleClient())))();
  loading.catch(() => {
    loading = undefined; // a failed bundle is retried at the next request
  });
  return loading;
}
