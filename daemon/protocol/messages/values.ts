/**
 * Value shapes several areas of the agent protocol share: guest paths, file
 * modes, signal names and guest times.
 */
import * as z from 'zod';

export const GuestPathSchema = z.string().min(1).max(4096).refine((p) => p.startsWith('/'), 'path must be absolute').refine((p) => !p.includes('\0'), 'path must not contain NUL');
export const FileModeSchema = z.number().int().min(0).max(0o7777);
export const SignalNameSchema = z.string().regex(/^SIG[A-Z0-9+-]+$/, 'a signal name such as SIGTERM');

/**
 * A time from the guest, epoch ms: bounded to what a JavaScript Date can hold
 * (+-8.64e15 ms, about 275,000 years either side of 1970), so that turning it
 * into a Date and an ISO string never throws. Every real file or process time
 * is far inside.
 */
export const MAX_GUEST_EPOCH_MS = 8.64e15;
export const GuestEpochMsSchema = z.number().min(-MAX_GUEST_EPOCH_MS).max(MAX_GUEST_EPOCH_MS);
