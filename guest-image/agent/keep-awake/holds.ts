/**
 * Keep-awake holds asked for inside the guest (`hob-keep-awake`, see cli.ts),
 * passed on to every host watching them (`keep-awake.watch`, protocol in
 * daemon/protocol/messages.ts). The agent keeps no hold of its own: the host
 * owns the hold (the sandbox's `keepAwakeUntil`), the agent only relays
 * changes. A change made while no host watches is kept (the latest only) and
 * handed to the next watch as `pending`, its remaining time counted on the
 * guest's monotonic clock.
 */
import type { Channel, KeepAwakeChange, RequestOf } from '../../../daemon/protocol/index.js';

const watchers = new Set<Channel>();
/** The undelivered change, and when it was made (performance.now()). */
let pending: { readonly seconds: number | null; readonly atMs: number } | undefined;

/**
 * Takes (`seconds`) or releases (null) the hold. Returns whether a host
 * received it now; otherwise it waits as `pending` for the next watch.
 */
export function changeKeepAwake(seconds: number | null): boolean {
  let delivered = false;
  for (const channel of watchers) {
    if (channel.isClosed) {
      watchers.delete(channel);
      continue;
    }
    channel.send({ type: 'keep_awake', seconds });
    delivered = true;
  }
  pending = delivered ? undefined : { seconds, atMs: performance.now() };
  return delivered;
}

/** The pending change as of now: a hold that expired while nobody watched is dropped. */
function takePending(): KeepAwakeChange | null {
  const p = pending;
  pending = undefined;
  if (!p) return null;
  if (p.seconds === null) return { seconds: null };
  const left = Math.floor(p.seconds - (performance.now() - p.atMs) / 1000);
  return left >= 1 ? { seconds: left } : null;
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
