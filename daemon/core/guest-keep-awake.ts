/**
 * Keep-awake holds taken inside the guest (docs/architecture.md §7): a program there
 * runs `hob-keep-awake --for 1h` (or `--release`); the agent passes the change
 * on over a `keep-awake.watch` channel (daemon/protocol/messages/keep-awake.ts), and this
 * turns it into the sandbox's keep-awake hold, the same one `hob keep-awake`
 * sets (`apply` is SandboxManager.keepAwake: the last change wins, from either
 * side).
 *
 * The manager calls follow() for every running sandbox on its idle tick; a
 * watch is opened once per agent connection (a wake from hibernation, a
 * restarted hobd or a dropped connection gives a new one, watched on the next
 * tick). A change made in the guest while no watch was open reaches the host
 * as the watch's `pending` change. Agents without the capability (from older
 * checkpoints) are left alone.
 *
 * The guest is hostile: it may send changes as fast as it can. Only the last
 * change matters, so they are coalesced per sandbox: the first is applied at
 * once, later ones at most once per KEEP_AWAKE_APPLY_INTERVAL_MS (the latest
 * of them, its `seconds` counted from when it arrived), one apply at a time.
 * The watcher itself closes a flooded watch (KeepAwakeWatcher); it is not
 * opened again on the same agent connection.
 */
import type { AgentClient, KeepAwakeWatcher } from '../agent/index.js';
import type { KeepAwakeChange } from '../protocol/index.js';
import { AgentError } from '../errors.js';
import type { LiveVm } from './live-vm.js';

/** The capability of agents that relay in-guest holds. */
export const CAPABILITY_KEEP_AWAKE_WATCH = 'keep-awake.watch';

/** Sets (seconds) or ends (null) the hold of the sandbox called `name`. */
export type ApplyKeepAwake = (name: string, seconds: number | null) => Promise<unknown>;

/**
 * Least time between two applies for one sandbox. Each apply is a SQLite write
 * (and, for a hold, a wake); once a second bounds a flooding guest to that
 * while a hold still takes effect within a second of its last change.
 */
export const KEEP_AWAKE_APPLY_INTERVAL_MS = 1000;

/** What GuestKeepAwake needs of a running sandbox's VM. */
export type WatchedVm = Pick<LiveVm, 'agent'>;

export class GuestKeepAwake {
  /** The agent connection each VM is watched on. */
  private readonly watched = new WeakMap<WatchedVm, AgentClient>();
  /** VMs whose watch is being opened. */
  private readonly opening = new WeakSet<WatchedVm>();
  /** The coalescing state per sandbox name, while a change waits or the interval since the last apply runs. */
  private readonly writers = new Map<string, HoldWriter>();

  constructor(
    private readonly apply: ApplyKeepAwake,
    private readonly log: (message: string) => void,
  ) {}

  /** Makes sure the running sandbox `name` (VM `vm`) is watched on its current agent connection. Never throws. */
  follow(name: string, vm: WatchedVm): void {
    if (this.opening.has(vm)) return;
    const client = this.watched.get(vm);
    if (client && !client.isClosed) return;
    this.opening.add(vm);
    void this.open(name, vm).finally(() => this.opening.delete(vm));
  }

  private async open(name: string, vm: WatchedVm): Promise<void> {
    let client: AgentClient;
    try {
      client = await vm.agent();
    } catch {
      return; // not reachable now: the next tick tries again
    }
    // Remembered also when the agent cannot watch: not asked again on this connection.
    this.watched.set(vm, client);
    if (!client.supports(CAPABILITY_KEEP_AWAKE_WATCH)) return;
    let watcher: KeepAwakeWatcher;
    try {
      watcher = await client.watchKeepAwake();
    } catch (err) {
      // A lost connection is retried on the next tick (the client is closed then); anything else is reported.
      if (!(err instanceof AgentError)) this.log(`hob: watching keep-awake holds in ${name}: ${(err as Error).message}`);
      return;
    }
    const onChange = (change: KeepAwakeChange): void => this.offer(name, change);
    watcher.on('change', onChange);
    // A flooded watch stays closed on this connection (follow() only reopens on a new one).
    // It may have closed already, in the same read as its `ready` answer.
    const reportFlood = (): void => {
      if (watcher.floodError) this.log(`hob: ${name}: ${watcher.floodError.message}`);
    };
    if (watcher.isClosed) reportFlood();
    else watcher.once('close', reportFlood);
    // Changes that came with the `ready` answer were emitted before the listener existed: the latest counts.
    if (watcher.latest) onChange(watcher.latest);
  }

  private offer(name: string, change: KeepAwakeChange): void {
    let writer = this.writers.get(name);
    if (!writer) {
      writer = new HoldWriter(name, this.apply, this.log, () => this.writers.delete(name));
      this.writers.set(name, writer);
    }
    writer.offer(change);
  }
}

/** Coalesced applies for one sandbox (see the module comment). */
class HoldWriter {
  private pending: { seconds: number | null; receivedAt: number } | undefined;
  private lastApplyAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private applying = false;

  constructor(
    private readonly name: string,
    private readonly apply: ApplyKeepAwake,
    private readonly log: (message: string) => void,
    private readonly forget: () => void,
  ) {}

  offer(change: KeepAwakeChange): void {
    this.pending = { seconds: change.seconds, receivedAt: Date.now() };
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.applying) return;
    const wait = this.lastApplyAt + KEEP_AWAKE_APPLY_INTERVAL_MS - Date.now();
    if (!this.pending) {
      if (wait <= 0) this.forget();
      else this.later(wait);
      return;
    }
    if (wait > 0) this.later(wait);
    else void this.run();
  }

  private later(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, ms);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const change = this.pending;
    if (!change) return;
    this.pending = undefined;
    this.applying = true;
    this.lastApplyAt = Date.now();
    // A hold counts from when it arrived, not from when its turn came.
    const seconds = change.seconds === null ? null : Math.max(1, change.seconds - Math.floor((Date.now() - change.receivedAt) / 1000));
    try {
      await this.apply(this.name, seconds);
    } catch (err) {
      this.log(`hob: keep-awake ${seconds === null ? 'release' : 'hold'} from inside ${this.name}: ${(err as Error).message}`);
    } finally {
      this.applying = false;
      this.schedule();
    }
  }
}
