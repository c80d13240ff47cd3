/**
 * Warm templates (hob extension, docs/architecture.md §17), at `/v1/templates`:
 *
 * - `GET /` → `{templates: [TemplateObject]}`, sorted by image.
 * - `POST /{image}` → 202: queues a build of the image's template (in the background; none
 *   if a current one exists); 404 for an unknown image.
 * - `DELETE /{image}` → 204; 404 when the image has no template. Creates then boot until
 *   the template is built again (after the next import of the image, a `POST`, or hobd's
 *   next start).
 */
import { Hono } from 'hono';
import type { TemplateInfo, TemplateService } from '../../core/templates.js';
import type { ImageService } from '../../core/images.js';
import { ImageNameSchema } from '../../core/names.js';
import { NotFoundError } from '../../errors.js';
import type { TemplateList, TemplateObject } from '../../wire/templates.js';
import type { ApiEnv } from '../context.js';
import { parseInput } from '../validate.js';

export interface TemplateRouteDeps {
  readonly templates: TemplateService;
  /** To refuse a build for an image that does not exist. */
  readonly images?: ImageService | undefined;
}

export function toTemplateObject(t: TemplateInfo): TemplateObject {
  return { image: t.image, state: t.state, cpus: t.cpus, memory_mib: t.memoryMiB, disk_bytes: t.diskBytes, built_at: t.builtAt, memory_mode: t.memory, boot_ms: t.bootMs, detail: t.detail, spare: t.spare };
}

export function templateRoutes(deps: TemplateRouteDeps): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();

  router.get('/', async (c) => {
    const list: TemplateList = { templates: (await deps.templates.list()).map(toTemplateObject) };
    return c.json(list);
  });

  router.post('/:image', async (c) => {
    const image = parseInput(ImageNameSchema, c.req.param('image'), 'image name');
    if (deps.images && !(await deps.images.list()).some((i) => i.name === image)) throw new NotFoundError(`no image named "${image}"`);
    deps.templates.ensure(image);
    return c.body(null, 202);
  });

  router.delete('/:image', async (c) => {
    await deps.templates.remove(parseInput(ImageNameSchema, c.req.param('image'), 'image name'));
    return c.body(null, 204);
  });

  return router;
}
