/**
 * Sandbox CRUD in the Sprites shapes, mounted at `/v1/sprites` and `/v1/sandboxes`:
 *
 * - `POST /` create → 201 Sprite object; with `Accept: application/x-ndjson`
 *   (hob extension) a progress stream whose last line is the Sprite object.
 *   hob extension: `"from": "SRC:vN"` creates from a checkpoint instead of an image.
 * - `GET /` list: `prefix`, `max_results` (1–50), `continuation_token` →
 *   `{sprites, has_more, next_continuation_token, org}`.
 * - `GET /{name}`, `PUT /{name}` (url_settings, labels, clear_labels),
 *   `DELETE /{name}` → 204.
 *   hob extensions of PUT: `auto_checkpoint: {interval_minutes, keep} | null`,
 *   `idle: {pause_after_seconds?, hibernate_after_seconds?} | null`.
 * - hob extensions: `POST /{name}/start` (NDJSON progress on request), `POST /{name}/stop`.
 * - hob extensions, sleep (docs/architecture.md §7), each answering the Sprite object:
 *   `POST /{name}/sleep` `{"hibernate"?: bool}` (409 unless running or paused),
 *   `POST /{name}/wake` (NDJSON progress on request; running: no-op),
 *   `POST /{name}/keep-awake` `{"seconds": N}` (wakes it and holds it awake N s),
 *   `DELETE /{name}/keep-awake` (ends the hold).
 */
import { Hono } from 'hono';
import { BadRequestError } from '../../errors.js';
import type { CreateSandboxInput, ProgressSink, Sandbox, UpdateSandboxInput } from '../../core/types.js';
import { errorJson, type ApiDeps, type ApiEnv, type ApiLog } from '../context.js';
import { ndjsonOperation, wantsNdjson } from '../ndjson.js';
import { SandboxNameSchema } from '../../core/names.js';
import { queryObject } from '../../wire/request-primitives.js';
import { CreateSandboxBody, KeepAwakeBody, ListSandboxesQuery, SleepBody, UpdateSandboxBody } from '../../wire/sprite-requests.js';
import { CreateSlots, outOfScope, visible } from '../scope.js';
import { inScope } from '../../auth/scope.js';
import { ORGANIZATION, spriteStatus, toSpriteObject } from '../sprite-object.js';
import { parseInput, readJsonBody } from '../validate.js';

/** Sprites' `url_settings.auth` to hob's UrlAuth. */
export function urlAuthFromSprites(auth: 'sprite' | 'public'): 'private' | 'public' {
  return auth === 'public' ? 'public' : 'private';
}

/** The `{name}` path parameter, validated as a DNS label. */
export function nameParam(value: string | undefined): string {
  return parseInput(SandboxNameSchema, value ?? '', 'sandbox name');
}

export function sandboxCrudRoutes(deps: ApiDeps, log: ApiLog, slots: CreateSlots = new CreateSlots()): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  const sprite = (sandbox: Sandbox) => toSpriteObject(sandbox, deps.port);

  router.post('/', async (c) => {
    const body = await readJsonBody(c.req.raw, CreateSandboxBody);
    const input: CreateSandboxInput = {
      name: body.name,
      image: body.image,
      from: body.from,
      cpus: body.config?.cpus,
      memoryMiB: body.config?.ram_mb,
      diskBytes: body.config?.storage_gb === undefined ? undefined : body.config.storage_gb * 1024 ** 3,
      labels: body.labels,
      environment: body.environment,
      secrets: body.secrets,
      urlAuth: body.url_settings?.auth === undefined ? undefined : urlAuthFromSprites(body.url_settings.auth),
      cold: body.cold,
    };
    const scope = c.get('scope');
    if (body.from !== undefined && !inScope(scope, body.from.sandbox)) throw outOfScope(body.from.sandbox);
    const create = (progress?: ProgressSink) => slots.run(scope, input.name, deps.sandboxes, () => deps.sandboxes.create(input, progress));
    if (wantsNdjson(c.req.header('accept'))) {
      return ndjsonOperation({
        run: (progress) => create(progress),
        result: sprite,
        failBeforeStart: (err) => errorJson(err, log, 'create'),
        onUnexpected: (err) => log.error('unexpected error in create', { error: err instanceof Error ? err.stack : String(err) }),
      });
    }
    return c.json(sprite(await create()), 201);
  });

  router.get('/', (c) => {
    const query = parseInput(ListSandboxesQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    const after = query.continuation_token === undefined ? undefined : decodeContinuation(query.continuation_token);
    const all = visible(c.get('scope'), deps.sandboxes.list());
    const matching = all
      .filter((s) => query.prefix === undefined || s.name.startsWith(query.prefix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const rest = after === undefined ? matching : matching.filter((s) => s.name > after);
    const page = rest.slice(0, query.max_results);
    const hasMore = rest.length > page.length;
    const counts = { running: 0, warm: 0, cold: 0 };
    for (const s of all) counts[spriteStatus(s.state)]++;
    return c.json({
      sprites: page.map(sprite),
      has_more: hasMore,
      next_continuation_token: hasMore ? encodeContinuation(page[page.length - 1]!.name) : null,
      // sprites-go reads the counts from `org`, the JS SDK from the top level.
      org: { name: ORGANIZATION, ...counts },
      ...counts,
    });
  });

  router.get('/:name', (c) => c.json(sprite(deps.sandboxes.get(nameParam(c.req.param('name'))))));

  router.put('/:name', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, UpdateSandboxBody, { emptyAsObject: true });
    if (body.clear_labels && body.labels !== undefined && body.labels.length > 0) {
      throw new BadRequestError('labels and clear_labels contradict each other');
    }
    const patch: UpdateSandboxInput = {
      labels: body.clear_labels ? [] : body.labels,
      urlAuth: body.url_settings?.auth === undefined ? undefined : urlAuthFromSprites(body.url_settings.auth),
      autoCheckpoint: body.auto_checkpoint === undefined ? undefined : body.auto_checkpoint === null ? null : { intervalMinutes: body.auto_checkpoint.interval_minutes, keep: body.auto_checkpoint.keep },
      idle: body.idle === undefined ? undefined : body.idle === null ? null : idleInput(body.idle),
    };
    if (Object.values(patch).every((v) => v === undefined)) return c.json(sprite(deps.sandboxes.get(name)));
    return c.json(sprite(await deps.sandboxes.update(name, patch)));
  });

  router.delete('/:name', async (c) => {
    const name = nameParam(c.req.param('name'));
    deps.sandboxes.get(name); // 404 before anything else happens
    await deps.sandboxes.remove(name);
    return c.body(null, 204);
  });

  router.post('/:name/start', async (c) => {
    const name = nameParam(c.req.param('name'));
    if (wantsNdjson(c.req.header('accept'))) {
      return ndjsonOperation({
        run: (progress) => deps.sandboxes.start(name, progress),
        result: sprite,
        failBeforeStart: (err) => errorJson(err, log, 'start'),
        onUnexpected: (err) => log.error('unexpected error in start', { error: err instanceof Error ? err.stack : String(err) }),
      });
    }
    return c.json(sprite(await deps.sandboxes.start(name)));
  });

  router.post('/:name/stop', async (c) => {
    const name = nameParam(c.req.param('name'));
    return c.json(sprite(await deps.sandboxes.stop(name)));
  });

  router.post('/:name/sleep', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, SleepBody, { emptyAsObject: true });
    return c.json(sprite(await deps.sandboxes.sleep(name, { hibernate: body.hibernate ?? false })));
  });

  router.post('/:name/wake', async (c) => {
    const name = nameParam(c.req.param('name'));
    if (wantsNdjson(c.req.header('accept'))) {
      return ndjsonOperation({
        run: (progress) => deps.sandboxes.wake(name, progress),
        result: sprite,
        failBeforeStart: (err) => errorJson(err, log, 'wake'),
        onUnexpected: (err) => log.error('unexpected error in wake', { error: err instanceof Error ? err.stack : String(err) }),
      });
    }
    return c.json(sprite(await deps.sandboxes.wake(name)));
  });

  router.post('/:name/keep-awake', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, KeepAwakeBody);
    return c.json(sprite(await deps.sandboxes.keepAwake(name, body.seconds)));
  });

  router.delete('/:name/keep-awake', async (c) => {
    const name = nameParam(c.req.param('name'));
    return c.json(sprite(await deps.sandboxes.keepAwake(name, null)));
  });

  return router;
}

/** The API's snake_case idle settings as the service takes them (absent keys stay absent). */
export function idleInput(body: { pause_after_seconds?: number; hibernate_after_seconds?: number }): NonNullable<UpdateSandboxInput['idle']> {
  return {
    ...(body.pause_after_seconds === undefined ? {} : { pauseAfterSeconds: body.pause_after_seconds }),
    ...(body.hibernate_after_seconds === undefined ? {} : { hibernateAfterSeconds: body.hibernate_after_seconds }),
  };
}

/** Continuation tokens are the last name of the previous page, base64url-encoded (opaque to clients). */
export function encodeContinuation(lastName: string): string {
  return Buffer.from(lastName, 'utf8').toString('base64url');
}

export function decodeContinuation(token: string): string {
  const name = /^[A-Za-z0-9_-]+$/.test(token) ? Buffer.from(token, 'base64url').toString('utf8') : '';
  if (!SandboxNameSchema.safeParse(name).success) throw new BadRequestError('invalid continuation_token');
  return name;
}
