/**
 * Warm templates on the wire (daemon/api/routes/templates.ts serves them, the CLI reads
 * them; docs/architecture.md §17). Key order is the order `--json` prints them in.
 */
import * as z from 'zod';

export const TemplateStateSchema = z.enum(['ready', 'stale', 'building', 'failed', 'broken']);

/** One image's template. Shape fields are null while the first build runs or after a failure. */
export const TemplateObject = z.looseObject({
  image: z.string(),
  /** ready: serves creates of its shape; stale: built for another image, VMM or setting (rebuilt); building; failed; broken: unreadable. */
  state: TemplateStateSchema,
  cpus: z.number().nullable(),
  memory_mib: z.number().nullable(),
  disk_bytes: z.number().nullable(),
  /** ISO 8601. */
  built_at: z.string().nullable(),
  /** mapped: its RAM is a file a create maps, read as the guest touches it; stream: read whole before the guest runs. */
  memory_mode: z.enum(['mapped', 'stream']).nullable(),
  /** How long the template's VM took from VMM start to its agent's answer. */
  boot_ms: z.number().nullable(),
  /** The build's current step, or the last build's error. */
  detail: z.string().nullable(),
  /**
   * Its spare sandbox (docs/architecture.md §31): ready (the next create of its shape continues
   * it), preparing, or none (spares off, or the template cannot serve creates). Older hobd: absent.
   */
  spare: z.enum(['ready', 'preparing', 'none']).optional(),
});
export type TemplateObject = z.infer<typeof TemplateObject>;

/** `GET /v1/templates`, sorted by image. */
export const TemplateList = z.looseObject({ templates: z.array(TemplateObject) });
export type TemplateList = z.infer<typeof TemplateList>;
