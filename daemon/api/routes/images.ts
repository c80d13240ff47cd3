/**
 * Guest images (hob extension), at `/v1/images`:
 *
 * - `GET /` → `{images: [ImageObject]}`, sorted by name.
 * - `POST /` `{name?, variant?, replace?}` builds the variant with
 *   guest-image/build (its cache makes a rebuild of unchanged inputs take
 *   seconds; a first `dev` build takes many minutes) and imports it into the
 *   pool as `name`. `variant` defaults to `dev`, `name` to the variant.
 *   Always answers an NDJSON stream (`application/x-ndjson`): progress lines
 *   `{type: "info", data, time}`, then either
 *   `{type: "complete", data, time, image: ImageObject}` or
 *   `{type: "error", error, data, code, time}`. Errors found before the build
 *   starts (bad body 400, name exists 409, a build of that name running 409)
 *   are plain JSON error responses with their status instead.
 * - `DELETE /{name}` → 204; 404 for an unknown image. Sandboxes made from the
 *   image keep working (they are snapshots).
 *
 * The build goes on when the client disconnects (like create); a second
 * build of the same name meanwhile gets 409.
 */
import { Hono } from 'hono';
import * as z from 'zod';
import { IMAGE_VARIANTS, type ImageInfo, type ImageService } from '../../core/images.js';
import { ImageNameSchema } from '../../core/names.js';
import type { TemplateService } from '../../core/templates.js';
import type { ImageBuildComplete, ImageList, ImageObject } from '../../wire/images.js';
import { consoleLog, errorJson, type ApiEnv, type ApiLog } from '../context.js';
import { ndjsonOperation } from '../ndjson.js';
import { parseInput, readJsonBody } from '../validate.js';

export interface ImageRouteDeps {
  readonly images: ImageService;
  /** Warm templates, whose state each image shows. */
  readonly templates?: TemplateService | undefined;
  /** Where unexpected errors are logged. Default: console. */
  readonly log?: ApiLog;
}

/** Body of `POST /v1/images`. */
export const BuildImageBody = z.object({
  /** Image name in the pool; default: the variant's name. */
  name: z.optional(ImageNameSchema),
  /** Package set; default `dev`. */
  variant: z.enum(IMAGE_VARIANTS).default('dev'),
  /** Replace an existing image of the same name. Default false (409 when it exists). */
  replace: z.boolean().default(false),
});

/** The manifest fields the API shows; anything missing or malformed reads as null. */
const ManifestView = z.object({
  variant: z.string().optional().catch(undefined),
  arch: z.string().optional().catch(undefined),
  kernel: z.object({ version: z.string() }).optional().catch(undefined),
  builtAt: z.string().optional().catch(undefined),
  inputsHash: z.string().optional().catch(undefined),
  files: z.object({ rootfs: z.object({ bytes: z.number() }) }).optional().catch(undefined),
});

export function toImageObject(info: ImageInfo): ImageObject {
  const m = ManifestView.safeParse(info.manifest ?? {});
  const v = m.success ? m.data : {};
  return {
    name: info.name,
    variant: v.variant ?? null,
    arch: v.arch ?? null,
    kernel: v.kernel?.version ?? null,
    built_at: v.builtAt ?? null,
    rootfs_bytes: v.files?.rootfs.bytes ?? null,
    inputs_hash: v.inputsHash ?? null,
  };
}

export function imageRoutes(deps: ImageRouteDeps): Hono<ApiEnv> {
  const log = deps.log ?? consoleLog;
  const router = new Hono<ApiEnv>();

  router.get('/', async (c) => {
    const templates = new Map((await deps.templates?.list() ?? []).map((t) => [t.image, t.state === 'building' && t.detail ? `building: ${t.detail}` : t.state]));
    const images = (await deps.images.list())
      .map((info) => ({ ...toImageObject(info), ...(deps.templates ? { template: templates.get(info.name) ?? null } : {}) }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const list: ImageList = { images };
    return c.json(list);
  });

  router.post('/', async (c) => {
    const body = await readJsonBody(c.req.raw, BuildImageBody, { emptyAsObject: true });
    const name = body.name ?? body.variant;
    return ndjsonOperation({
      run: (progress) => deps.images.build({ name, variant: body.variant, replace: body.replace }, progress),
      result: (info): ImageBuildComplete => ({ type: 'complete', data: `Image ${info.name} ready`, time: new Date().toISOString(), image: toImageObject(info) }),
      failBeforeStart: (err) => errorJson(err, log, 'image build'),
      onUnexpected: (err) => log.error('unexpected error in image build', { error: err instanceof Error ? err.stack : String(err) }),
    });
  });

  router.delete('/:name', async (c) => {
    await deps.images.remove(parseInput(ImageNameSchema, c.req.param('name'), 'image name'));
    return c.body(null, 204);
  });

  return router;
}
