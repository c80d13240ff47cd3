/**
 * Keep-awake holds asked for inside the guest (`hob-keep-awake`, see cli.ts),
 * passed on to every host watching them (`keep-awake.watch`, protocol in
 * daemon/protocol/messages/keep-awake.ts). The agent keeps no hold of its own: the host
 * owns the hold (the sandbox's `keepAwakeUntil`), the agent only relays
 * changes. A change made while no host watches is kept (the latest only) and
 * handed to the next watch as `pending`, its remaining time counted on the
 * guest's monotonic clock.
 *
 * Changes go to the host at most once per SEND_INTERVAL_MS (the latest of an
 * interval; a hold's time counted from when it was asked for): the host
 * closes a watch flooded with changes (daemon/agent/keep-awake.ts), and a
 * program calling `hob-keep-awake` in a tight loop must not trip that.
 */
import type { Channel, KeepAwakeChange, RequestOf } from '../../../daemon/protocol/index.js';

/** 5 changes a second at most: half the rate the host accepts after its burst (KEEP_AWAKE_RATE_PER_S). */
export const SEND_INTERVAL_MS = 200;

type Change = { readonly seconds: number | null; readonly atMs: number };

const watchers = new Set<Channel>();
/** The undelivered change, and when it was made (performance.now()). */
let pending: Change | undefined;
/** A change waiting for its turn to be sent (SEND_INTERVAL_MS). */
let queued: Change | undefined;
let queueTimer: NodeJS.Timeout | undefined;
let lastSentAt = -Infinity;

/** Open watches, forgetting closed ones. */
function liveWatchers(): Channel[] {
  for (const channel of watchers) if (channel.isClosed) watchers.delete(channel);
  return [...watchers];
}

/**
 * Takes (`seconds`) or releases (null) the hold. Returns whether a host
 * watches (it receives the change within SEND_INTERVAL_MS); otherwise the
 * change waits as `pending` for the next watch.
 */
export function changeKeepAwake(seconds: number | null): boolean {
  const change: Change = { seconds, atMs: performance.now() };
  if (liveWatchers().length === 0) {
    pending = change;
    return false;
  }
  pending = undefined;
  const wait = lastSentAt + SEND_INTERVAL_MS - change.atMs;
  if (wait <= 0 && !queueTimer) {
    send(change);
    return true;
  }
  queued = change;
  if (!queueTimer) {
    queueTimer = setTimeout(sendQueued, Math.max(0, wait));
    queueTimer.unref();
  }
  return true;
}

function sendQueued(): void {
  queueTimer = undefined;
  const change = queued;
  queued = undefined;
  if (!change) return;
  if (liveWatchers().length === 0) pending = change;
  else send(change);
}

function send(change: Change): void {
  lastSentAt = performance.now();
  // Within its interval a hold loses no whole second: rounded up (it waited at most SEND_INTERVAL_MS).
  const seconds = remaining(change, Math.ceil);
  if (seconds === undefined) return; // a hold that ran out while it waited
  for (const channel of liveWatchers()) channel.send({ type: 'keep_awake', seconds });
}

/** The change's `seconds` as of now (null for a release); undefined when the hold has run out. */
function remaining(change: Change, round: (x: number) => number = Math.floor): number | null | undefined {
  if (change.seconds === null) return null;
  const left = round(change.seconds - (performance.now() - change.atMs) / 1000);
  return left >= 1 ? left : undefined;
}

/** The pending change as of now: a hold that expired while nobody watched is dropped. */
function takePending(): KeepAwakeChange | null {
  const p = pending;
  pending = undefined;
  if (!p) return null;
  const seconds = remaining(p);
  return seconds === undefined ? null : { seconds };
}

/** keep-awake.watch: `ready {pending}`, then a `keep_awake` message per change until the host closes the channel. */
export async function handleKeepAwakeWatch(_req: RequestOf<'keep-awake.watch'>, channel: Channel): Promise<void> {
  watchers.add(channel);
  channel.send({ type: 'ready', value: { pending: takePending() } });
  await new Promise<void>((resolve) => {
    if (channel.isClosed) resolve();
    else channel.once('close', () => resolve());
  });
  watchers.delete(channel);
}
