/**
 * The API responses the CLI reads, validated with zod. Objects are loose:
 * `--json` prints what hobd sent, including fields this CLI does not know.
 * The shapes hobd sends are in daemon/wire/; this is how the CLI reads them.
 * The sandbox object, read by most commands and by every `hob ls`, is in
 * sandbox-schemas.ts, so that those commands build no schema they do not read.
 */
import * as z from 'zod';
import * as events from '../wire/events.js';
import * as exec from '../wire/exec.js';
import * as fs from '../wire/fs.js';
import * as images from '../wire/images.js';
import * as stats from '../wire/stats.js';
import * as tokens from '../wire/tokens.js';

/** One entry of `GET .../exec` (wire/exec.ts); older hobd versions send only Sprites' fields. */
export const SessionListing = exec.SessionListing.partial({ attached: true, exited: true, exit_code: true, bytes_per_second: true, pid: true });
export type SessionListing = z.infer<typeof SessionListing>;
export const SessionList = exec.SessionList.extend({ sessions: z.array(SessionListing) });

/** Lines of the kill stream. */
export const KillLine = exec.KillLine.partial({ message: true, pid: true, time: true });

/** A token; older hobd versions send no scope. */
export const TokenInfo = tokens.TokenObject.partial({ prefix: true, max_sandboxes: true });
export type TokenInfo = z.infer<typeof TokenInfo>;
export const TokenList = tokens.TokenList.extend({ tokens: z.array(TokenInfo) });
export const CreatedToken = tokens.CreatedTokenObject.partial({ prefix: true, max_sandboxes: true });

export const FsWriteResult = fs.FsWriteResult;
/** `GET .../fs/list`; `mode` and `modTime` are not needed. */
export const FsList = fs.FsList.extend({ entries: z.array(fs.FsEntry.partial({ mode: true, modTime: true })) });

/** An image (`GET /v1/images`, wire/images.ts); `inputs_hash` is absent from older hobd versions. */
export const ImageObject = images.ImageObject.partial({ inputs_hash: true });
export type ImageObject = z.infer<typeof ImageObject>;
export const ImageList = images.ImageList.extend({ images: z.array(ImageObject) });
/** Last line of the build stream. */
export const ImageBuildComplete = images.ImageBuildComplete.extend({ image: ImageObject }).partial({ data: true, time: true });

/** Text frames of the exec websocket; Sprites servers may send `session_id` as a number. */
export const SessionInfoFrame = exec.SessionInfoFrame.extend({ session_id: z.union([z.string(), z.number()]).transform(String) }).partial({
  command: true,
  created: true,
  cols: true,
  rows: true,
  is_owner: true,
  tty: true,
});
export const ExitFrame = exec.ExitFrame;
export type ExitFrame = exec.ExitFrame;

/** The event log (`GET /v1/events`, wire/events.ts). */
export const EventObject = events.EventObject;
export type EventObject = events.EventObject;
export const EventList = events.EventList;
export { TemplateList, TemplateObject } from '../wire/templates.js';

/** Resource stats (`GET /v1/stats`, `GET /v1/sandboxes/{name}/stats`, wire/stats.ts). */
export const SandboxStatsObject = stats.SandboxStatsObject;
export type SandboxStatsObject = stats.SandboxStatsObject;
export const StatsList = stats.StatsList;
