import { HobError } from '../../errors.js';

/**
 * A guest disk image the ext4 reader could not read: corrupt or crafted
 * metadata, an unsupported feature, or the reader process crashed, hit its
 * memory limit or its timeout. HTTP 422: the request was valid, the guest's
 * own data cannot be processed (not hobd's fault, so not 500; no upstream
 * service failed, so not 502).
 */
export class ImageUnreadableError extends HobError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super('image_unreadable', `the image could not be read: ${detail}`, options);
  }
}

/** Thrown inside the reader process for a structure that is not valid ext4 (becomes ImageUnreadableError). */
export class CorruptImageError extends Error {}
