/**
 * Keep-awake holds taken inside the guest (design section 7): a program there
 * runs `hob-keep-awake --for 1h` (or `--release`); the agent passes the change
 * on over a `keep-awake.watch` channel (daemon/protocol/messages.ts), and this
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
 */
import type { AgentClient, KeepAwakeWatcher } from '../agent/index.js';
import type { KeepAwakeChange } from '../protocol/index.js';
import { AgentError } from '../errors.js';
import type { LiveVm } from './live-vm.js';

/** The capability of agents that relay in-guest holds. */
export const CAPABILITY_KEEP_AWAKE_WATCH = 'keep-awake.watch';

/** Sets (seconds) or ends (null) the hold of the sandbox called `name`. */
export type ApplyKeepAwake = (name: string, seconds: number | null) => Promise<unknown>;

export class GuestKeepAwake {
  /** The agent connection each VM is watched on. */
  private readonly watched = new WeakMap<LiveVm, AgentClient>();
  /** VMs whose watch is being opened. */
  private readonly opening = new WeakSet<LiveVm>();

  constructor(
    private readonly apply: ApplyKeepAwake,
    private readonly log: (message: string) => void,
  ) {}

  /** Makes sure the running sandbox `name` (VM `vm`) is watched on its current agent connection. Never throws. */
  follow(name: string, vm: LiveVm): void {
    if (this.opening.has(vm)) return;
    const client = this.watched.get(vm);
    if (client && !client.isClosed) return;
    this.opening.add(vm);
    void this.open(name, vm).finally(() => this.opening.delete(vm));
  }

  private async open(name: string, vm: LiveVm): Promise<void> {
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
    const onChange = (change: KeepAwakeChange): void => {
      this.apply(name, change.seconds).catch((err: Error) => this.log(`hob: keep-awake ${change.seconds === null ? 'release' : 'hold'} from inside ${name}: ${err.message}`));
    };
    if (watcher.pending) onChange(watcher.pending);
    watcher.on('change', onChange);
  }
}
