/**
 * Guest images on the wire (daemon/api/routes/images.ts serves them, the CLI
 * reads them). Key order is the order the CLI's `--json` prints them in: keep it.
 */
import * as z from 'zod';

/** An image. Fields from the manifest are null when it is unreadable. */
export const ImageObject = z.looseObject({
  name: z.string(),
  /** `minimal` or `dev`. */
  variant: z.string().nullable(),
  /** `x86_64` or `aarch64`. */
  arch: z.string().nullable(),
  /** Guest kernel release (uname -r). */
  kernel: z.string().nullable(),
  /** ISO 8601 time the image was built. */
  built_at: z.string().nullable(),
  /** Apparent size of the root filesystem image in bytes. */
  rootfs_bytes: z.number().nullable(),
  /** Hash of every build input: equal hashes mean equal images. */
  inputs_hash: z.string().nullable(),
  /** Its warm template's state (see wire/templates.ts), `building: <step>` while one is built; null: none (or templates off). */
  template: z.string().nullable().optional(),
});
export type ImageObject = z.infer<typeof ImageObject>;

/** `GET /v1/images`, sorted by name. */
export const ImageList = z.looseObject({ images: z.array(ImageObject) });
export type ImageList = z.infer<typeof ImageList>;

/** Last line of the build stream. */
export const ImageBuildComplete = z.looseObject({
  type: z.literal('complete'),
  image: ImageObject,
  /** "Image NAME ready". */
  data: z.string(),
  /** ISO 8601. */
  time: z.string(),
});
export type ImageBuildComplete = z.infer<typeof ImageBuildComplete>;
