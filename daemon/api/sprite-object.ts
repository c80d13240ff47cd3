/**
 * The Sprite object: how a hob Sandbox looks through the API, in the shape the
 * Sprites SDKs decode (Go `SpriteInfo`, JS `spriteFromAPI`), plus hob's own
 * fields. Sprites fields first; hob fields are additions an SDK ignores.
 */
import type { Sandbox, SandboxState } from '../core/types.js';

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

export interface SpriteObject {
  readonly id: string;
  readonly name: string;
  /** Always "local": hob has no organizations. */
  readonly organization: string;
  readonly status: SpriteStatus;
  /** `http://<name>.localhost:<port>/`. */
  readonly url: string;
  /** `sprite` (private: a token is needed) or `public`. */
  readonly url_settings: { readonly auth: 'sprite' | 'public' };
  readonly labels: readonly string[];
  readonly environment: Readonly<Record<string, string>>;
  /** Sizes in Sprites units; integers (sprites-go decodes them into ints). */
  readonly config: { readonly ram_mb: number; readonly cpus: number; readonly storage_gb: number };
  readonly created_at: string;
  readonly updated_at: string;
  // hob fields
  /** hob's lifecycle state (docs/architecture.md §7). */
  readonly state: SandboxState;
  readonly state_since: string;
  readonly cpus: number;
  readonly memory_mib: number;
  readonly disk_bytes: number;
  readonly image: string;
  readonly vmm: string;
  readonly last_error: string | null;
  /**
   * This sandbox's own idle times in seconds (0 = never); a key that is absent
   * follows hobd's configured default. `{}` when it has none.
   */
  readonly idle: { readonly pause_after_seconds?: number; readonly hibernate_after_seconds?: number };
  /** ISO 8601 end of a keep-awake hold (`POST .../keep-awake`), or null. */
  readonly keep_awake_until: string | null;
  /** Automatic checkpoints while running; null when off. */
  readonly auto_checkpoint: { readonly interval_minutes: number; readonly keep: number } | null;
  /** Where a fork came from (checkpoint null: the source's state at the time); null for a sandbox made from an image. */
  readonly forked_from: { readonly sandbox: string; readonly checkpoint: string | null } | null;
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
  };
}
