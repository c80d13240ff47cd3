/**
 * AgentClient: the host end of one connection to the guest agent.
 *
 * Every method opens a channel, sends a request validated against the shared
 * schemas, and validates what comes back (guest input is untrusted). Failures:
 * GuestError for a failure inside the guest (errno code in `guestCode`),
 * AgentError for a lost connection or a protocol violation,
 * UnsupportedByAgentError when the agent did not advertise the capability the
 * method needs (how a newer daemon copes with an agent from an old checkpoint),
 * BadRequestError for arguments the request schema rejects.
 * Methods may run concurrently; each uses its own channel.
 */
import { EventEmitter } from 'node:events';
import type { Duplex, Readable } from 'node:stream';
import { AgentError, BadRequestError } from '../errors.js';
import {
  Mux,
  NO_SESSION_ERROR_CODE,
  ProtocolError,
  ReadySchemas,
  RequestSchema,
  ResultSchemas,
  type Channel,
  type FileStat,
  type Request,
  type RequestInput,
  type RequestInputOf,
  type ResultOf,
  type UnaryOp,
} from '../protocol/index.js';
import { firstAnswer, parseFromGuest } from './answer.js';
import { UnsupportedByAgentError } from './errors.js';
import { ExecProcess, type ExecStatus } from './exec.js';
import { openFileReader, writeFileFrom, type FileReader, type WriteFileOptions, type WriteSource } from './file-transfer.js';
import { GuestApiChannel, type GuestApiHandler } from './guest-api.js';
import { handshake, type HandshakeOptions } from './handshake.js';
import { KeepAwakeWatcher } from './keep-awake.js';
import { PortWatcher } from './ports.js';
import { AgentServices } from './services.js';
import { TunnelStream } from './tunnel.js';

/** Capability an agent lists when it can run execs under a PTY. */
export const CAPABILITY_EXEC_TTY = 'exec.tty';
/** The agent runs an exec without a user as the image's default user and fills in the user's HOME under a given env. */
export const CAPABILITY_EXEC_DEFAULT_USER = 'exec.default-user';

export type ConnectOptions = HandshakeOptions;

/** What exec() takes: the exec request without its `op`. */
export type ExecOptions = Omit<RequestInputOf<'exec'>, 'op'>;

/**
 * Default bound on what run() collects (stdout and stderr together): run() is
 * for small outputs (fork identity, probes); 16 MiB leaves room for the tests
 * that pipe a few MiB through it, and stops a guest that answers with endless
 * output from growing hobd's memory. Stream with exec() for more.
 */
export const RUN_OUTPUT_LIMIT = 16 * 1024 * 1024;

/**
 * HELLOs the agent may send after the handshake beyond one answer to each HELLO
 * we sent (handshake.ts resends ours until answered, and a port the guest had
 * not opened yet queues them all): an agent that sends more is broken or hostile.
 */
export const MAX_LATE_HELLOS = 32;

/** Output and status of a process run to completion by run(). */
export interface RunResult extends ExecStatus {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
}

export interface AgentClientEvents {
  /** The connection ended; `error` is set when it failed rather than being closed by close(). */
  close: [error: Error | undefined];
}

export class AgentClient extends EventEmitter<AgentClientEvents> {
  /** Protocol version agreed on in the handshake. */
  readonly version: number;
  /** Operations and features the agent advertised. */
  readonly capabilities: ReadonlySet<string>;
  /** Random id of the agent's start: a different one means the guest rebooted (or the agent restarted). */
  readonly bootId: string;
  /** The agent's release. */
  readonly agentVersion: string;
  /** Supervised services in the guest (capability "services", see services.ts). */
  readonly services: AgentServices;

  private constructor(
    private readonly mux: Mux,
    hello: { version: number; capabilities: string[]; bootId: string; agentVersion: string },
    hellosSent: number,
  ) {
    super();
    this.version = hello.version;
    this.capabilities = new Set(hello.capabilities);
    this.bootId = hello.bootId;
    this.agentVersion = hello.agentVersion;
    this.services = new AgentServices({
      agentVersion: this.agentVersion,
      supports: (capability) => this.supports(capability),
      unary: (op, input) => this.unary(op, input),
      open: (input) => this.open(this.validate(input)),
    });
    // The Mux accepts no channels from the agent (it never opens any): a CONTROL
    // frame for an unknown id is dropped there without an answer.
    let lateHellos = 0;
    const allowed = hellosSent + MAX_LATE_HELLOS;
    mux.on('hello', () => {
      if (++lateHellos > allowed) mux.fail(new ProtocolError(`the guest agent sent more than ${allowed} HELLOs after the handshake (hob sent ${hellosSent})`));
    });
    mux.on('close', (error) => this.emit('close', error));
  }

  /**
   * Performs the handshake on `stream` (see handshake.ts) and returns the client.
   * On failure the stream is destroyed. Rejects with IncompatibleAgentError (no
   * common version, invalid hello), AgentError (stream closed) or TimeoutError.
   */
  static async connect(stream: Duplex, options: ConnectOptions = {}): Promise<AgentClient> {
    const mux = new Mux(stream, { acceptChannels: false });
    try {
      const { hello, hellosSent } = await handshake(mux, options);
      return new AgentClient(mux, hello, hellosSent);
    } catch (err) {
      mux.destroy();
      throw err;
    }
  }

  get isClosed(): boolean {
    return this.mux.isClosed;
  }

  /** Whether the agent advertised a capability (an op name such as "fs.chmod", or a feature such as "exec.tty"). */
  supports(capability: string): boolean {
    return this.capabilities.has(capability);
  }

  /**
   * Gives the guest the secret proxy's CA and the placeholder variables (docs/architecture.md §11),
   * replacing what it had. @throws UnsupportedByAgentError from an agent without "secrets.configure".
   */
  async configureSecrets(config: Omit<RequestInputOf<'secrets.configure'>, 'op'>): Promise<void> {
    await this.unary('secrets.configure', { op: 'secrets.configure', ...config });
  }

  /** Ends the connection; operations in flight fail with AgentError. */
  close(): void {
    this.mux.destroy();
  }

  // ------------------------------------------------------------ exec

  /**
   * Starts a process. Resolves once it runs (its pid known); rejects with
   * GuestError ENOENT for a missing command or cwd, ENOUSER for an unknown user.
   */
  async exec(options: ExecOptions): Promise<ExecProcess> {
    if (options.tty) this.require(CAPABILITY_EXEC_TTY);
    const request = this.validate({ ...options, op: 'exec' });
    const what = `exec ${(request.op === 'exec' ? request.argv : []).slice(0, 3).join(' ')}`.slice(0, 200);
    const channel = this.open(request);
    return firstAnswer(channel, 'ready', what, (value) => {
      const ready = parseFromGuest(ReadySchemas.exec, value, what);
      return new ExecProcess(channel, ready.pid, Boolean(options.stdin || options.tty), what);
    });
  }

  /**
   * Runs a process to completion, feeding it `input` (if given; its end is the
   * process's EOF) and collecting its output in memory: for small outputs. More
   * than `maxOutputBytes` (default RUN_OUTPUT_LIMIT) of stdout and stderr
   * together abandons the process (its channel is closed) and rejects with AgentError.
   */
  async run(argv: string[], options: Omit<ExecOptions, 'argv' | 'stdin'> & { input?: Buffer | string; maxOutputBytes?: number } = {}): Promise<RunResult> {
    const { input, maxOutputBytes = RUN_OUTPUT_LIMIT, ...rest } = options;
    const proc = await this.exec({ ...rest, argv, stdin: input !== undefined });
    let total = 0;
    // Closing the channel also fails `exited`; the caller must see why it was closed.
    let overflow: AgentError | undefined;
    const collect = async (stream: Readable): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) {
        total += (chunk as Buffer).length;
        if (total > maxOutputBytes) {
          overflow ??= new AgentError(`run ${argv.slice(0, 3).join(' ').slice(0, 200)}: output exceeds ${maxOutputBytes} bytes`);
          proc.close();
          throw overflow;
        }
        chunks.push(chunk as Buffer);
      }
      return Buffer.concat(chunks);
    };
    // A tty's stdin is open even without input; it then stays open (no ^D sent).
    if (proc.stdin && input !== undefined) proc.stdin.end(input);
    try {
      const [stdout, stderr, status] = await Promise.all([collect(proc.stdout), collect(proc.stderr), proc.exited]);
      return { ...status, stdout, stderr };
    } catch (err) {
      throw overflow ?? err;
    }
  }

  // ------------------------------------------------------------ files

  /** Opens a file for reading: its size and a stream of its bytes (from `offset`, at most `length`). */
  async readFile(path: string, options: { offset?: number; length?: number } = {}): Promise<FileReader> {
    const request = this.validate({ op: 'fs.read', path, ...options });
    return openFileReader(this.open(request), `fs.read ${path}`);
  }

  /** A whole file (or a range) in memory. */
  async readFileBuffer(path: string, options: { offset?: number; length?: number } = {}): Promise<Buffer> {
    const { stream } = await this.readFile(path, options);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  /**
   * Replaces a file atomically with `data`. If `data` fails or `signal` aborts, the
   * transfer is abandoned and the guest keeps the old file (or none).
   */
  async writeFile(path: string, data: WriteSource, options: WriteFileOptions = {}): Promise<ResultOf<'fs.write'>> {
    const { signal, ...fields } = options;
    const request = this.validate({ op: 'fs.write', path, ...fields });
    return writeFileFrom(this.open(request), data, `fs.write ${path}`, signal);
  }

  /** lstat: symlinks are described, not followed. */
  stat(path: string): Promise<FileStat> {
    return this.unary('fs.stat', { op: 'fs.stat', path });
  }

  async list(path: string): Promise<FileStat[]> {
    return (await this.unary('fs.list', { op: 'fs.list', path })).entries;
  }

  async mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    await this.unary('fs.mkdir', { op: 'fs.mkdir', path, ...options });
  }

  async rename(from: string, to: string): Promise<void> {
    await this.unary('fs.rename', { op: 'fs.rename', from, to });
  }

  /** Removes a file, an empty directory, or with `recursive` a whole tree. A missing path is ENOENT. */
  async remove(path: string, options: { recursive?: boolean } = {}): Promise<void> {
    await this.unary('fs.remove', { op: 'fs.remove', path, ...options });
  }

  async chmod(path: string, mode: number): Promise<void> {
    await this.unary('fs.chmod', { op: 'fs.chmod', path, mode });
  }

  // ------------------------------------------------------------ system

  async sync(): Promise<void> {
    await this.unary('sync', { op: 'sync' });
  }

  /** Freezes the guest's root filesystem; the agent thaws it by itself after `autoThawMs` (default 30 s). */
  async freeze(options: { autoThawMs?: number } = {}): Promise<void> {
    await this.unary('fs.freeze', { op: 'fs.freeze', ...options });
  }

  /** Thaws the root filesystem; thawing one that is not frozen succeeds. */
  async thaw(): Promise<void> {
    await this.unary('fs.thaw', { op: 'fs.thaw' });
  }

  /** Sets the guest's clock; resolves with the guest's time before the change (epoch ms). */
  async setClock(time: Date | number = Date.now()): Promise<number> {
    const epochMs = Math.round(typeof time === 'number' ? time : time.getTime());
    return (await this.unary('clock.set', { op: 'clock.set', epochMs })).previousEpochMs;
  }

  /**
   * Gives the guest's kernel fresh entropy after a memory restore (capability "random.reseed";
   * UnsupportedByAgentError from older agents). Resolves with how the agent applied it.
   */
  async reseedRandom(seed: Uint8Array): Promise<'ioctl' | 'write'> {
    return (await this.unary('random.reseed', { op: 'random.reseed', seed: Buffer.from(seed).toString('base64') })).method;
  }

  /**
   * Gives the guest a new hostname and machine-id, and new ssh host keys if it has any
   * (capability "identity.set"; UnsupportedByAgentError from older agents). Resolves with
   * whether ssh host keys were replaced.
   */
  async setIdentity(hostname: string, machineId: string): Promise<boolean> {
    return (await this.unary('identity.set', { op: 'identity.set', hostname, machineId })).sshHostKeys;
  }

  /** When each step of the guest's boot began, in its uptime (capability "boot.timeline"; docs/architecture.md §24). Unchecked beyond the protocol's bounds. */
  async bootTimeline(): Promise<ResultOf<'boot.timeline'>> {
    return this.unary('boot.timeline', { op: 'boot.timeline' });
  }

  /** Round trip to the agent; resolves with the guest's uptime in ms. */
  async ping(): Promise<number> {
    return (await this.unary('ping', { op: 'ping' })).uptimeMs;
  }

  /** Syncs, then powers the guest off (or reboots it). Resolves when the agent has acknowledged. */
  async shutdown(options: { reboot?: boolean } = {}): Promise<void> {
    await this.unary('shutdown', { op: 'shutdown', ...options });
  }

  // ------------------------------------------------------------ network

  /**
   * Connects to `host:port` inside the guest (default 127.0.0.1). Rejects with
   * GuestError ECONNREFUSED etc.; see TunnelStream for the stream's behaviour.
   */
  async openTunnel(port: number, host?: string): Promise<TunnelStream> {
    const request = this.validate({ op: 'tunnel', port, ...(host !== undefined ? { host } : {}) });
    const what = `tunnel ${host ?? '127.0.0.1'}:${port}`;
    const channel = this.open(request);
    return firstAnswer(channel, 'ready', what, (value) => {
      parseFromGuest(ReadySchemas.tunnel, value, what);
      return new TunnelStream(channel, what);
    });
  }

  /** Starts watching the guest's listening TCP ports. */
  async watchPorts(): Promise<PortWatcher> {
    const channel = this.open(this.validate({ op: 'ports.watch' }));
    return firstAnswer(channel, 'ready', 'ports.watch', (value) => {
      const ready = parseFromGuest(ReadySchemas['ports.watch'], value, 'ports.watch');
      return new PortWatcher(channel, ready.ports);
    });
  }

  /**
   * Starts watching keep-awake holds taken inside the guest (capability
   * "keep-awake.watch"; UnsupportedByAgentError from older agents).
   */
  async watchKeepAwake(): Promise<KeepAwakeWatcher> {
    const channel = this.open(this.validate({ op: 'keep-awake.watch' }));
    return firstAnswer(channel, 'ready', 'keep-awake.watch', (value) => {
      const ready = parseFromGuest(ReadySchemas['keep-awake.watch'], value, 'keep-awake.watch');
      return new KeepAwakeWatcher(channel, ready.pending);
    });
  }

  /**
   * Opens the channel the agent relays the guest's API requests on (capability
   * "guest-api.serve"; UnsupportedByAgentError from older agents); `handler`
   * answers each request (see GuestApiChannel for the bounds).
   */
  async serveGuestApi(handler: GuestApiHandler): Promise<GuestApiChannel> {
    const channel = this.open(this.validate({ op: 'guest-api.serve' }));
    return firstAnswer(channel, 'ready', 'guest-api.serve', (value) => {
      parseFromGuest(ReadySchemas['guest-api.serve'], value, 'guest-api.serve');
      return new GuestApiChannel(channel, handler);
    });
  }

  // ------------------------------------------------------------ plumbing

  private require(capability: string): void {
    if (!this.capabilities.has(capability)) throw new UnsupportedByAgentError(capability, this.agentVersion);
  }

  private validate(input: RequestInput): Request {
    const parsed = RequestSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new BadRequestError(`invalid ${input.op} request: ${issue ? `${issue.path.join('.') || 'request'}: ${issue.message}` : 'schema mismatch'}`);
    }
    return parsed.data;
  }

  /** Checks the op's capability and sends the request on a new channel. */
  private open(request: Request): Channel {
    this.require(request.op);
    if (this.mux.isClosed) throw new AgentError(`${request.op}: the connection to the guest agent is closed`);
    const channel = this.mux.openChannel();
    channel.once('control', (message) => {
      // The agent lost our session (a late hangup, an agent restarted under us). Nothing ran;
      // drop the connection so that the next call reconnects and handshakes again.
      if (message.type === 'error' && message.code === NO_SESSION_ERROR_CODE) {
        this.mux.fail(new ProtocolError('the guest agent no longer knows this connection (it asks for a new HELLO)'));
      }
    });
    channel.send({ type: 'request', request });
    // Sending can drop the connection (a peer that does not read, see Mux): the channel is then
    // already closed and would never report it to a listener attached from now on.
    if (channel.isClosed) throw new AgentError(`${request.op}: the connection to the guest agent is closed`);
    return channel;
  }

  private async unary<O extends UnaryOp>(op: O, input: RequestInputOf<O & Request['op']>): Promise<ResultOf<O>> {
    const request = this.validate(input);
    const what = 'path' in request ? `${op} ${request.path}` : op;
    const channel = this.open(request);
    const value = await firstAnswer(channel, 'result', what);
    return parseFromGuest(ResultSchemas[op], value, what) as ResultOf<O>;
  }
}
