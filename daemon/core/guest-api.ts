/**
 * The API inside each guest (docs/architecture.md §14): the agent serves
 * /.sprite/api.sock and relays each request over a `guest-api.serve` channel
 * (daemon/protocol/messages/guest-api.ts); this opens that channel on every
 * running sandbox's agent connection and hands each request, with the id of
 * the sandbox whose connection it came on, to the handler hobd installs (the
 * API's, api/guest-api.ts). The sandbox is known from the connection only:
 * nothing the guest sends names it.
 *
 * The manager calls follow() for every running sandbox on its idle tick (as
 * for in-guest keep-awake holds): a channel is opened once per agent
 * connection. Until then (a second after a boot, at most) the agent answers
 * 503 itself. Agents without the capability (older images, checkpoints) are
 * left alone: nothing listens on their socket.
 *
 * Each request is bounded by GUEST_API_DEADLINE_MS (then 504 and the handler's
 * signal aborts), below the agent's own wait (RELAY_TIMEOUT_MS), and counts
 * as activity of the sandbox.
 */
import type { AgentClient, GuestApiChannel, GuestApiRequest, GuestApiResponse } from '../agent/index.js';
import { jsonError } from '../agent/index.js';
import { AgentError } from '../errors.js';
import type { LiveVm } from './live-vm.js';

export type { GuestApiRequest, GuestApiResponse } from '../agent/index.js';

/** The capability of agents that serve /.sprite/api.sock. */
export const CAPABILITY_GUEST_API = 'guest-api.serve';

/** Longest a guest's request may take on the host (a checkpoint under TCG, a service stop with its timeout). */
export const GUEST_API_DEADLINE_MS = 240_000;

/** Answers one request of the sandbox `sandboxId`; `signal` aborts at the deadline or when the channel goes. */
export type SandboxGuestApiHandler = (sandboxId: string, request: GuestApiRequest, signal: AbortSignal) => Promise<GuestApiResponse>;

/** What GuestApiRelay needs of a running sandbox's VM. */
export type RelayedVm = Pick<LiveVm, 'agent'>;

export class GuestApiRelay {
  private readonly served = new WeakMap<RelayedVm, AgentClient>();
  private readonly opening = new WeakSet<RelayedVm>();
  private handler: SandboxGuestApiHandler | undefined;

  constructor(
    /** Marks the sandbox busy (the idle policy's clock). */
    private readonly touch: (sandboxId: string) => void,
    private readonly log: (message: string) => void,
  ) {}

  /** Installs the handler (hobd: once the API exists). Until then requests are answered 503. */
  serve(handler: SandboxGuestApiHandler): void {
    this.handler = handler;
  }

  /** Makes sure the running sandbox `sandboxId` (VM `vm`) is served on its current agent connection. Never throws. */
  follow(sandboxId: string, name: string, vm: RelayedVm): void {
    if (this.opening.has(vm)) return;
    const client = this.served.get(vm);
    if (client && !client.isClosed) return;
    this.opening.add(vm);
    void this.open(sandboxId, name, vm).finally(() => this.opening.delete(vm));
  }

  private async open(sandboxId: string, name: string, vm: RelayedVm): Promise<void> {
    let client: AgentClient;
    try {
      client = await vm.agent();
    } catch {
      return; // not reachable now: the next tick tries again
    }
    this.served.set(vm, client);
    if (!client.supports(CAPABILITY_GUEST_API)) return;
    let channel: GuestApiChannel;
    try {
      channel = await client.serveGuestApi((request, signal) => this.answer(sandboxId, request, signal));
    } catch (err) {
      if (!(err instanceof AgentError)) this.log(`hob: serving the API inside ${name}: ${(err as Error).message}`);
      return;
    }
    // A flooded channel stays closed on this connection (follow() only reopens on a new one).
    const reportFlood = (): void => {
      if (channel.floodError) this.log(`hob: ${name}: ${channel.floodError.message}`);
    };
    if (channel.isClosed) reportFlood();
    else channel.once('close', reportFlood);
  }

  private async answer(sandboxId: string, request: GuestApiRequest, signal: AbortSignal): Promise<GuestApiResponse> {
    const handler = this.handler;
    if (!handler) return jsonError(503, 'unavailable', 'hobd is starting');
    this.touch(sandboxId);
    const deadline = new AbortController();
    const abort = (): void => deadline.abort();
    signal.addEventListener('abort', abort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<GuestApiResponse>((resolve) => {
      timer = setTimeout(() => {
        deadline.abort();
        resolve(jsonError(504, 'timeout', `hobd did not finish the request within ${GUEST_API_DEADLINE_MS / 1000} s`));
      }, GUEST_API_DEADLINE_MS);
      timer.unref();
    });
    try {
      return await Promise.race([handler(sandboxId, request, deadline.signal), timeout]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', abort);
      this.touch(sandboxId);
    }
  }
}
