/**
 * The host end of the guest's supervised services (capability "services";
 * guest side in guest-image/agent/services/). Reached as `agent.services` on
 * an AgentClient.
 *
 * Failures: NotFoundError for an unknown service, BadRequestError for a bad
 * definition (unknown or cyclic `needs`, invalid fields), ConflictError when
 * another service already has the HTTP port, when the service is still
 * needed by another (delete), or when it is not running (signal);
 * UnsupportedByAgentError when the agent predates services (an old agent
 * frozen in an old checkpoint: rebuild the image, or boot the sandbox cold on
 * a new one); AgentError / GuestError as for every agent call.
 */
import type { Readable } from 'node:stream';
import { BadRequestError, ConflictError, GuestError, NotFoundError } from '../errors.js';
import {
  ReadySchemas,
  StreamId,
  type Channel,
  type RequestInputOf,
  type ResultOf,
  type ServiceDefinitionInput,
  type ServiceInfo,
  type ServiceLogEntry,
  type UnaryOp,
} from '../protocol/index.js';
import { firstAnswer, lostChannel, parseFromGuest } from './answer.js';
import { BoundedLineSplitter } from './bounded-lines.js';
import { MAX_LOG_ENTRY_BYTES, cutLogEntry, parseLogEntryLine } from './service-log-lines.js';
import { UnsupportedByAgentError } from './errors.js';

/** Capability of an agent that supervises services. */
export const CAPABILITY_SERVICES = 'services';

type ServiceUnaryOp = Extract<UnaryOp, `service.${string}`>;

/** What AgentServices needs from its AgentClient (its private plumbing). */
export interface ServiceTransport {
  readonly agentVersion: string;
  supports(capability: string): boolean;
  unary<O extends ServiceUnaryOp>(op: O, input: RequestInputOf<O>): Promise<ResultOf<O>>;
  /** Validates the request, checks its capability, sends it on a new channel. */
  open(input: RequestInputOf<'service.logs'>): Channel;
}

/** Options of `logs()`. */
export interface ServiceLogOptions {
  /** How many of the last entries to send first (default 100, at most 1000 are kept in memory). */
  readonly lines?: number;
  /** Keep the stream open and send every later entry. */
  readonly follow?: boolean;
  /** Follow a name that has no service (yet) instead of failing with NotFoundError. */
  readonly allowMissing?: boolean;
}

export class AgentServices {
  constructor(private readonly transport: ServiceTransport) {}

  /** Whether the agent supervises services. */
  get supported(): boolean {
    return this.transport.supports(CAPABILITY_SERVICES);
  }

  /** Every service, sorted by name. */
  async list(): Promise<ServiceInfo[]> {
    return (await this.call('service.list', { op: 'service.list' })).services;
  }

  get(name: string): Promise<ServiceInfo> {
    return this.call('service.get', { op: 'service.get', name });
  }

  /**
   * Creates or replaces a service. With `start` (default) it is enabled and
   * started, or restarted when it ran with a different definition.
   */
  put(name: string, definition: ServiceDefinitionInput, options: { start?: boolean } = {}): Promise<ServiceInfo> {
    return this.call('service.put', { op: 'service.put', name, definition, ...options });
  }

  /** Stops the service (SIGKILL after `timeoutMs`, default 10 s) and removes its definition; its log stays. */
  async delete(name: string, options: { timeoutMs?: number } = {}): Promise<void> {
    await this.call('service.delete', { op: 'service.delete', name, ...options });
  }

  /** Enables and starts the service, and first what it needs. */
  start(name: string): Promise<ServiceInfo> {
    return this.call('service.start', { op: 'service.start', name });
  }

  /** Disables the service and stops it (SIGTERM, SIGKILL after `timeoutMs`, default 10 s); resolves once it ended. */
  stop(name: string, options: { timeoutMs?: number } = {}): Promise<ServiceInfo> {
    return this.call('service.stop', { op: 'service.stop', name, ...options });
  }

  /** Sends a signal ("SIGHUP", ...) to the service's process group. */
  async signal(name: string, signal: string): Promise<void> {
    await this.call('service.signal', { op: 'service.signal', name, signal });
  }

  /** Opens the service's log: the last entries, then (with `follow`) the new ones as they come. */
  async logs(name: string, options: ServiceLogOptions = {}): Promise<ServiceLogStream> {
    this.require();
    const what = `service.logs ${name}`;
    try {
      const channel = this.transport.open({ op: 'service.logs', name, ...options });
      return await firstAnswer(channel, 'ready', what, (value) => {
        const ready = parseFromGuest(ReadySchemas['service.logs'], value, what);
        return new ServiceLogStream(channel, ready.logFile, what);
      });
    } catch (err) {
      throw mapError(err);
    }
  }

  private require(): void {
    if (!this.supported) throw new UnsupportedByAgentError(CAPABILITY_SERVICES, this.transport.agentVersion);
  }

  private async call<O extends ServiceUnaryOp>(op: O, input: RequestInputOf<O>): Promise<ResultOf<O>> {
    this.require();
    try {
      return await this.transport.unary(op, input);
    } catch (err) {
      throw mapError(err);
    }
  }
}

/** The agent's errno codes for services as hob's errors (see the module comment). */
function mapError(err: unknown): unknown {
  if (!(err instanceof GuestError)) return err;
  const message = err.message.replace(/^service\.[a-z]+: /, '');
  switch (err.guestCode) {
    case 'ENOENT':
      return new NotFoundError(message);
    case 'EINVAL':
    case 'EBADREQ':
      return new BadRequestError(message);
    case 'EBUSY':
    case 'ESRCH':
      return new ConflictError(message);
    default:
      return err;
  }
}

/**
 * Entries read ahead from the guest before the stream stops reading (and the
 * agent, out of channel credit, stops sending): at most this many, and at most
 * MAX_BUFFERED_BYTES of their text. With the channel's window (1 MiB) this
 * bounds what a log stream whose reader is slow holds on the host.
 */
const MAX_BUFFERED = 2000;
/** See MAX_BUFFERED: 1 MiB, a thousand lines of a chatty service. */
const MAX_BUFFERED_BYTES = 1024 * 1024;

/**
 * A service's log entries as they arrive (AgentServices.logs). Read with
 * `for await`, next() or take(); close() ends it (the agent stops sending).
 * Lines from the guest that are not valid entries are dropped; lines over
 * MAX_LOG_ENTRY_BYTES are cut (service-log-lines.ts). Ends with AgentError
 * when the connection is lost.
 */
export class ServiceLogStream implements AsyncIterable<ServiceLogEntry> {
  private readonly buffered: ServiceLogEntry[] = [];
  private bufferedBytes = 0;
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private readonly input: Readable;

  constructor(
    private readonly channel: Channel,
    /** The log file in the guest. */
    readonly logFile: string,
    what: string,
  ) {
    this.input = channel.readable(StreamId.Stdout);
    const lines = new BoundedLineSplitter(
      MAX_LOG_ENTRY_BYTES,
      (line) => {
        const entry = parseLogEntryLine(line);
        if (entry) this.push(entry);
      },
      (head) => this.push(cutLogEntry(head)),
    );
    this.input.on('data', (chunk: Buffer) => lines.write(chunk));
    this.input.on('end', () => {
      lines.end();
      this.finish(undefined);
    });
    this.input.on('error', (err: Error) => this.finish(lostChannel(what, err)));
    // A plain close ends the input too ('end' above), once what it still holds was read (it may be paused).
    channel.once('close', (error) => {
      if (error) this.finish(lostChannel(what, error));
    });
  }

  /** The next entry; undefined once the stream ended. */
  async next(): Promise<ServiceLogEntry | undefined> {
    for (;;) {
      const entry = this.buffered.shift();
      if (entry) {
        this.bufferedBytes -= entry.data.length;
        if (this.input.isPaused() && this.buffered.length < MAX_BUFFERED / 2 && this.bufferedBytes < MAX_BUFFERED_BYTES / 2) this.input.resume();
        return entry;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  /** The entries received so far and not read yet, without waiting. */
  take(): ServiceLogEntry[] {
    const all = this.buffered.splice(0);
    this.bufferedBytes = 0;
    if (this.input.isPaused()) this.input.resume();
    return all;
  }

  close(): void {
    this.channel.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ServiceLogEntry> {
    try {
      for (;;) {
        const entry = await this.next();
        if (entry === undefined) return;
        yield entry;
      }
    } finally {
      this.close();
    }
  }

  private push(entry: ServiceLogEntry): void {
    this.buffered.push(entry);
    this.bufferedBytes += entry.data.length;
    if (this.buffered.length >= MAX_BUFFERED || this.bufferedBytes >= MAX_BUFFERED_BYTES) this.input.pause();
    this.notify();
  }

  private finish(error: Error | undefined): void {
    if (this.ended) return;
    this.ended = true;
    // A channel closed while entries remain is a normal end; a lost connection is not.
    if (error) this.failure = error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** The service that has an HTTP port, if any (and if the agent supports services). */
export async function httpServiceOf(services: AgentServices): Promise<ServiceInfo | undefined> {
  if (!services.supported) return undefined;
  return (await services.list()).find((s) => s.definition.httpPort !== undefined);
}

/**
 * The HTTP port the sandbox URL should route to, from its services: the
 * `httpPort` of the one service that has one, or undefined (then the router
 * uses its default). For URL routing.
 */
export async function httpPortOf(services: AgentServices): Promise<number | undefined> {
  return (await httpServiceOf(services))?.definition.httpPort;
}

/**
 * Like httpPortOf, but also starts that service when it is stopped, or failed
 * and waiting for its restart (Sprites:
 * "the proxy starts the service first if it is not running"). Resolves once
 * its process was spawned; the port may need a moment more to accept.
 */
export async function ensureHttpService(services: AgentServices): Promise<number | undefined> {
  const service = await httpServiceOf(services);
  if (!service) return undefined;
  if (service.state.status === 'stopped' || service.state.status === 'failed') await services.start(service.name);
  return service.definition.httpPort;
}
