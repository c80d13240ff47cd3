/**
 * The Sprite object (its shape: wire/sprite.ts) built from a Sandbox. Sprites
 * fields first; hob fields are additions an SDK ignores.
 */
import type { Sandbox, SandboxState } from '../core/types.js';
import type { SpriteObject } from '../wire/sprite.js';

/** Sprites' three statuses. */
export type SpriteStatus = 'cold' | 'warm' | 'running';

/**
 * hob state to Sprites status: running is running; paused (memory resident)
 * is warm; everything else has no live VM and is cold.
 */
export function spriteStatus(state: SandboxState): SpriteStatus {
  switch (state) {
    case 'running':
      return 'running';
    case 'paused':
      return 'warm';
    default:
      return 'cold';
  }
}

export const ORGANIZATION = 'local';

/** The URL a sandbox's web server is reachable at. */
export function sandboxUrl(name: string, port: number): string {
  return `http://${name}.localhost:${port}/`;
}

export function toSpriteObject(sandbox: Sandbox, port: number): SpriteObject {
  return {
    id: sandbox.id,
    name: sandbox.name,
    organization: ORGANIZATION,
    status: spriteStatus(sandbox.state),
    url: sandboxUrl(sandbox.name, port),
    url_settings: { auth: sandbox.urlAuth === 'public' ? 'public' : 'sprite' },
    labels: [...sandbox.labels],
    environment: { ...sandbox.environment },
    config: {
      ram_mb: sandbox.memoryMiB,
      cpus: sandbox.cpus,
      storage_gb: Math.round(sandbox.diskBytes / 1024 ** 3),
    },
    created_at: sandbox.createdAt,
    updated_at: sandbox.updatedAt,
    state: sandbox.state,
    state_since: sandbox.stateSince,
    cpus: sandbox.cpus,
    memory_mib: sandbox.memoryMiB,
    disk_bytes: sandbox.diskBytes,
    image: sandbox.image,
    vmm: sandbox.vmm,
    last_error: sandbox.lastError,
    idle: {
      ...(sandbox.idle.pauseAfterSeconds === undefined ? {} : { pause_after_seconds: sandbox.idle.pauseAfterSeconds }),
      ...(sandbox.idle.hibernateAfterSeconds === undefined ? {} : { hibernate_after_seconds: sandbox.idle.hibernateAfterSeconds }),
    },
    keep_awake_until: sandbox.keepAwakeUntil,
    auto_checkpoint: sandbox.autoCheckpoint === null ? null : { interval_minutes: sandbox.autoCheckpoint.intervalMinutes, keep: sandbox.autoCheckpoint.keep },
    forked_from: sandbox.forkedFrom === null ? null : { sandbox: sandbox.forkedFrom.sandbox, checkpoint: sandbox.forkedFrom.checkpoint },
    ...(sandbox.lastBoot ? { boot_timeline: sandbox.lastBoot } : {}),
  };
}
