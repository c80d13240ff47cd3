/**
 * Checkpoints in the Sprites shapes, plus hob's fork and diff, mounted at
 * `/v1/sprites` and `/v1/sandboxes` next to the sandbox CRUD routes:
 *
 * - `POST /{name}/checkpoint` `{comment?, memory?}` (empty body allowed) →
 *   always an NDJSON progress stream (`application/x-ndjson`) whose last line
 *   is `{"type":"complete","data":"Checkpoint vN created","id":"vN","checkpoint":<CheckpointObject>,"time"}`.
 * - `GET /{name}/checkpoints?includeAuto=true` (also `include_auto`; `history`
 *   is accepted and ignored) → `[CheckpointObject]`, oldest first; automatic
 *   checkpoints only when asked for.
 * - `GET /{name}/checkpoints/{id}` → one CheckpointObject.
 * - `DELETE /{name}/checkpoints/{id}` → 204.
 * - `POST /{name}/checkpoints/{id}/restore` → NDJSON stream whose last line is
 *   `{"type":"complete","data":"Restored to vN","time"}`.
 * - hob: `POST /{name}/fork` `{name, from?}` → 201 Sprite object of the new
 *   sandbox; with `Accept: application/x-ndjson` a progress stream whose last
 *   line is the Sprite object (as create).
 * - hob: `GET /{name}/diff?from=vN[&to=vM|current][&path=/dir]` →
 *   `{from, to, entries: [DiffEntry], truncated}` (shapes in wire/checkpoints.ts, sorted by
 *   path; at most MAX_DIFF_ENTRIES, the first by path, `truncated: true` when there were more);
 *   `GET /{name}/diff?from=vN[&to=...]&file=/abs/path` → `text/plain` unified
 *   diff of that file ("" when equal).
 *
 * `{id}` is "vN" or the checkpoint's uid. Failures before a stream starts keep
 * their status: 400 bad input, 404 unknown sandbox or checkpoint, 409 another
 * operation runs (or `memory` on a sandbox that is not running), 507 pool full.
 * After the stream started a failure is its last line, `{"type":"error",...}`
 * (api/ndjson.ts); Sprites reports a failed restore the same way.
 */
import { Hono } from 'hono';
import type { CheckpointInfo, ProgressEvent, ProgressSink, Sandbox } from '../../core/types.js';
import { CheckpointBody, CheckpointRefSchema, DiffQuery, ForkBody, ListCheckpointsQuery, type CheckpointComplete, type CheckpointObject, type DiffResponse, type RestoreComplete } from '../../wire/checkpoints.js';
import { queryObject } from '../../wire/request-primitives.js';
import { errorJson, type ApiDeps, type ApiEnv, type ApiLog } from '../context.js';
import { ndjsonOperation, wantsNdjson } from '../ndjson.js';
import { CreateSlots } from '../scope.js';
import { toSpriteObject } from '../sprite-object.js';
import { parseInput, readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

export function toCheckpointObject(checkpoint: CheckpointInfo): CheckpointObject {
  return {
    id: checkpoint.id,
    create_time: checkpoint.createdAt,
    comment: checkpoint.comment,
    is_auto: checkpoint.auto,
    kind: checkpoint.kind,
    size_bytes: checkpoint.sizeBytes,
  };
}

/** The `{id}` path parameter. */
function refParam(value: string | undefined): string {
  return parseInput(CheckpointRefSchema, value ?? '', 'checkpoint id');
}

/**
 * The service's progress, its `complete` event held back: these routes end the
 * stream with that event (its text, "Checkpoint vN created", is the core's),
 * the result added, and a client stops at the first `complete` line.
 */
function heldComplete(): { forward: (progress: ProgressSink) => ProgressSink; readonly event: ProgressEvent } {
  let held: ProgressEvent | undefined;
  return {
    forward: (progress) => (event) => {
      if (event.type === 'complete') held = event;
      else progress(event);
    },
    get event() {
      return held ?? { type: 'complete', data: '', time: now() };
    },
  };
}

const now = (): string => new Date().toISOString();

export function checkpointRoutes(deps: ApiDeps, log: ApiLog, slots: CreateSlots = new CreateSlots()): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();
  const unexpected = (where: string) => (err: unknown) =>
    log.error(`unexpected error in ${where}`, { error: err instanceof Error ? err.stack : String(err) });

  router.post('/:name/checkpoint', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, CheckpointBody, { emptyAsObject: true });
    deps.sandboxes.get(name); // 404 as a status, not as a stream line
    const done = heldComplete();
    return ndjsonOperation({
      run: (progress) => deps.sandboxes.checkpoint(name, { comment: body.comment, memory: body.memory }, done.forward(progress)),
      result: (checkpoint): CheckpointComplete => ({
        type: 'complete',
        data: done.event.data,
        id: checkpoint.id,
        checkpoint: toCheckpointObject(checkpoint),
        time: done.event.time,
      }),
      failBeforeStart: (err) => errorJson(err, log, 'checkpoint'),
      onUnexpected: unexpected('checkpoint'),
    });
  });

  router.get('/:name/checkpoints', async (c) => {
    const name = nameParam(c.req.param('name'));
    const query = parseInput(ListCheckpointsQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    const includeAuto = query.includeAuto ?? query.include_auto ?? false;
    const checkpoints = await deps.sandboxes.listCheckpoints(name, { includeAuto });
    return c.json(checkpoints.map(toCheckpointObject));
  });

  router.get('/:name/checkpoints/:id', async (c) => {
    const name = nameParam(c.req.param('name'));
    const ref = refParam(c.req.param('id'));
    return c.json(toCheckpointObject(await deps.sandboxes.getCheckpoint(name, ref)));
  });

  router.delete('/:name/checkpoints/:id', async (c) => {
    const name = nameParam(c.req.param('name'));
    const ref = refParam(c.req.param('id'));
    await deps.sandboxes.deleteCheckpoint(name, ref);
    return c.body(null, 204);
  });

  router.post('/:name/checkpoints/:id/restore', async (c) => {
    const name = nameParam(c.req.param('name'));
    const ref = refParam(c.req.param('id'));
    // Unknown sandbox or checkpoint: 404 as a status, before the stream starts.
    await deps.sandboxes.getCheckpoint(name, ref);
    const done = heldComplete();
    return ndjsonOperation({
      run: (progress) => deps.sandboxes.restore(name, ref, done.forward(progress)),
      result: (): RestoreComplete => ({ type: 'complete', data: done.event.data, time: done.event.time }),
      failBeforeStart: (err) => errorJson(err, log, 'restore'),
      onUnexpected: unexpected('restore'),
    });
  });

  router.post('/:name/fork', async (c) => {
    const source = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, ForkBody);
    const input = { name: body.name, from: body.from };
    const sprite = (sandbox: Sandbox) => toSpriteObject(sandbox, deps.port);
    const fork = (progress?: ProgressSink) => slots.run(c.get('scope'), body.name, deps.sandboxes, () => deps.sandboxes.fork(source, input, progress));
    if (wantsNdjson(c.req.header('accept'))) {
      return ndjsonOperation({
        run: (progress) => fork(progress),
        result: sprite,
        failBeforeStart: (err) => errorJson(err, log, 'fork'),
        onUnexpected: unexpected('fork'),
      });
    }
    return c.json(sprite(await fork()), 201);
  });

  router.get('/:name/diff', async (c) => {
    const name = nameParam(c.req.param('name'));
    const query = parseInput(DiffQuery, queryObject(new URL(c.req.url).searchParams), 'query');
    const to = query.to === 'current' ? undefined : query.to;
    if (query.file !== undefined) {
      const text = await deps.sandboxes.fileDiff(name, { from: query.from, to, path: query.file });
      return c.text(text, 200, { 'content-type': 'text/plain; charset=utf-8' });
    }
    const { entries, truncated } = await deps.sandboxes.diff(name, { from: query.from, to, path: query.path });
    const diff: DiffResponse = { from: query.from, to: to ?? 'current', entries, truncated };
    return c.json(diff);
  });

  return router;
}
