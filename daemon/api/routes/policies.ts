/**
 * The privileges and resources policies of a sandbox, in the Sprites shapes
 * (docs/architecture.md §20), mounted at `/v1/sprites` and `/v1/sandboxes`:
 *
 * - `GET /{name}/policy/privileges` → `{profile: "privileged", devices: [], noNewPrivileges: false}`:
 *   fixed. The VM is the boundary; inside it processes may do anything (root, sudo).
 *   `POST` of that same policy, and `DELETE`, → 204; any other policy → 501 (nothing changes).
 * - `GET /{name}/policy/resources` → `{memory: {limit_mb, autoscale: false}, cpus, storage_gb}`:
 *   the VM's size. `POST` `{memory?: {limit_mb, autoscale?}, cpus?, storage_gb?}` → 204,
 *   applied at the next boot, only while the sandbox has no VM (409 otherwise: stop it
 *   first); `autoscale: true` and a new disk size → 501. `DELETE` → back to hobd's
 *   default vCPUs and memory (same rule), 204.
 */
import { Hono } from 'hono';
import { NotSupportedError } from '../../errors.js';
import { HOB_PRIVILEGES, PrivilegesPolicyBody, ResourcesPolicyBody, type ResourcesPolicy } from '../../wire/sprite-ops.js';
import type { ApiDeps, ApiEnv } from '../context.js';
import { readJsonBody } from '../validate.js';
import { nameParam } from './sandboxes.js';

const GiB = 1024 ** 3;

export function policiesRoutes(deps: Pick<ApiDeps, 'sandboxes'>): Hono<ApiEnv> {
  const router = new Hono<ApiEnv>();

  router.get('/:name/policy/privileges', (c) => {
    deps.sandboxes.get(nameParam(c.req.param('name')));
    return c.json(HOB_PRIVILEGES);
  });

  router.post('/:name/policy/privileges', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, PrivilegesPolicyBody, { emptyAsObject: true });
    deps.sandboxes.get(name);
    const noNewPrivileges = body.noNewPrivileges ?? body.no_new_privileges;
    const asked = (body.profile !== undefined && body.profile !== '' && body.profile !== HOB_PRIVILEGES.profile) || (body.devices?.length ?? 0) > 0 || noNewPrivileges === true;
    if (asked) {
      throw new NotSupportedError(
        `hob does not restrict processes inside ${name}: a sandbox is a whole VM, the VM is the boundary, and inside it everything runs with full privileges (root, sudo); its only privileges policy is {"profile":"privileged"}`,
      );
    }
    return c.body(null, 204);
  });

  router.delete('/:name/policy/privileges', (c) => {
    deps.sandboxes.get(nameParam(c.req.param('name')));
    return c.body(null, 204);
  });

  router.get('/:name/policy/resources', (c) => {
    const sandbox = deps.sandboxes.get(nameParam(c.req.param('name')));
    const body: ResourcesPolicy = {
      memory: { limit_mb: sandbox.memoryMiB, autoscale: false },
      cpus: sandbox.cpus,
      storage_gb: Math.round(sandbox.diskBytes / GiB),
    };
    return c.json(body);
  });

  router.post('/:name/policy/resources', async (c) => {
    const name = nameParam(c.req.param('name'));
    const body = await readJsonBody(c.req.raw, ResourcesPolicyBody);
    const sandbox = deps.sandboxes.get(name);
    if (body.memory?.autoscale === true) {
      throw new NotSupportedError(`hob does not autoscale memory: ${name} has the memory it booted with; set memory.limit_mb instead`);
    }
    // The disk's size in whole GiB as the GET shows it: the same value means "unchanged".
    const diskBytes = body.storage_gb === undefined || body.storage_gb === Math.round(sandbox.diskBytes / GiB) ? undefined : body.storage_gb * GiB;
    await deps.sandboxes.resize(name, { cpus: body.cpus, memoryMiB: body.memory?.limit_mb, diskBytes });
    return c.body(null, 204);
  });

  router.delete('/:name/policy/resources', async (c) => {
    await deps.sandboxes.resize(nameParam(c.req.param('name')), 'defaults');
    return c.body(null, 204);
  });

  return router;
}
