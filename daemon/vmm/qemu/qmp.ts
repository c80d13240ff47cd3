/**
 * A small typed client for the QEMU Machine Protocol (QMP) over a unix socket.
 *
 * Protocol (docs/interop/qmp-spec): on connect QEMU sends a greeting
 * `{"QMP": {"version": ..., "capabilities": [...]}}`; the client must send
 * `qmp_capabilities` before any other command. Each command is a JSON object
 * `{"execute": NAME, "arguments": {...}, "id": ID}`; the reply is `{"return": ..., "id": ID}`
 * or `{"error": {"class": ..., "desc": ...}, "id": ID}`. Asynchronous events
 * `{"event": NAME, "data": {...}, "timestamp": {...}}` may arrive at any time. Messages are
 * JSON texts separated by CRLF.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import * as z from 'zod';
import { VmmError } from '../../errors.js';

const greetingSchema = z.object({
  QMP: z.object({
    version: z.object({
      qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
      package: z.string(),
    }),
    capabilities: z.array(z.string()),
  }),
});
export type QmpGreeting = z.infer<typeof greetingSchema>['QMP'];

const eventSchema = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }),
});
/** An asynchronous QMP event such as STOP, RESUME, SHUTDOWN, MIGRATION. */
export type QmpEvent = z.infer<typeof eventSchema>;

const replySchema = z.union([
  z.object({ return: z.unknown(), id: z.string() }),
  z.object({ error: z.object({ class: z.string(), desc: z.string() }), id: z.string() }),
]);

const emptyReturn = z.object({}).loose();

/** Run states QEMU reports (qapi RunState). */
export const qemuRunStateSchema = z.enum([
  'debug', 'inmigrate', 'internal-error', 'io-error', 'paused', 'postmigrate', 'prelaunch',
  'finish-migrate', 'restore-vm', 'running', 'save-vm', 'shutdown', 'suspended', 'watchdog',
  'guest-panicked', 'colo',
]);
export type QemuRunState = z.infer<typeof qemuRunStateSchema>;

/** Migration states (qapi MigrationStatus). */
export const migrationStatusSchema = z.enum([
  'none', 'setup', 'cancelling', 'cancelled', 'active', 'postcopy-active', 'postcopy-paused',
  'postcopy-recover', 'completed', 'failed', 'colo', 'pre-switchover', 'device', 'wait-unplug',
]);
export type MigrationStatus = z.infer<typeof migrationStatusSchema>;

/**
 * The commands hob uses: argument type and a zod schema of the `return` value. Extend here
 * before using a new command; `execute` accepts nothing else.
 */
export const qmpCommands = {
  qmp_capabilities: emptyReturn,
  'query-status': z.object({ status: qemuRunStateSchema, running: z.boolean() }).loose(),
  'query-version': z
    .object({ qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }), package: z.string() })
    .loose(),
  'query-machines': z.array(z.object({ name: z.string(), alias: z.string().optional() }).loose()),
  stop: emptyReturn,
  cont: emptyReturn,
  system_powerdown: emptyReturn,
  block_resize: emptyReturn,
  quit: emptyReturn,
  migrate: emptyReturn,
  'migrate-incoming': emptyReturn,
  migrate_cancel: emptyReturn,
  'migrate-set-capabilities': emptyReturn,
  'migrate-set-parameters': emptyReturn,
  'query-migrate': z
    .object({
      status: migrationStatusSchema.optional(),
      'error-desc': z.string().optional(),
      'total-time': z.number().optional(),
      ram: z.object({ transferred: z.number(), total: z.number() }).loose().optional(),
    })
    .loose(),
} satisfies Record<string, z.ZodType>;
export type QmpCommandName = keyof typeof qmpCommands;
export type QmpReturn<C extends QmpCommandName> = z.infer<(typeof qmpCommands)[C]>;

/** Arguments of each command (undefined: takes none). */
export interface QmpArgs {
  qmp_capabilities: { enable?: string[] } | undefined;
  'query-status': undefined;
  'query-version': undefined;
  'query-machines': undefined;
  stop: undefined;
  cont: undefined;
  system_powerdown: undefined;
  block_resize: { device: string; size: number };
  quit: undefined;
  migrate: { uri: string };
  'migrate-incoming': { uri: string };
  migrate_cancel: undefined;
  'migrate-set-capabilities': { capabilities: { capability: string; state: boolean }[] };
  'migrate-set-parameters': { 'max-bandwidth'?: number; 'downtime-limit'?: number };
  'query-migrate': undefined;
}

/** QEMU answered a command with an error reply. */
export class QmpCommandError extends VmmError {
  constructor(
    readonly command: string,
    /** QMP error class, e.g. GenericError, CommandNotFound, DeviceNotActive. */
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
  }
}

interface Pending {
  readonly command: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface QmpClientEvents {
  event: [QmpEvent];
  close: [];
}

/**
 * One QMP session. Create with `QmpClient.open(socket)`. Emits 'event' for every async event
 * and 'close' once when the connection ends (QEMU exited or the socket was closed); pending
 * commands then reject with VmmError. The socket holds hobd's event loop only while a
 * command is in flight.
 */
export class QmpClient extends EventEmitter<QmpClientEvents> {
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<string, Pending>();
  private greetingWaiter: ((g: unknown) => void) | undefined;
  private closedFlag = false;

  private constructor(private readonly sock: net.Socket) {
    super();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', () => {
      /* 'close' follows and does the work */
    });
    sock.on('close', () => this.onClose());
    sock.unref();
  }

  /**
   * Performs the handshake on a connected socket: reads the greeting, sends
   * qmp_capabilities. Rejects with VmmError (and destroys the socket) on timeout or garbage.
   */
  static async open(sock: net.Socket, timeoutMs = 10_000): Promise<{ client: QmpClient; greeting: QmpGreeting }> {
    const client = new QmpClient(sock);
    sock.ref();
    try {
      const raw = await new Promise<unknown>((resolve, reject) => {
        const t = setTimeout(() => reject(new VmmError(`no QMP greeting within ${timeoutMs} ms`)), timeoutMs);
        client.greetingWaiter = (g) => {
          clearTimeout(t);
          resolve(g);
        };
        client.once('close', () => {
          clearTimeout(t);
          reject(new VmmError('QMP socket closed before the greeting'));
        });
      });
      const g = greetingSchema.safeParse(raw);
      if (!g.success) throw new VmmError(`unexpected QMP greeting: ${JSON.stringify(raw).slice(0, 200)}`);
      await client.execute('qmp_capabilities', undefined, timeoutMs);
      return { client, greeting: g.data.QMP };
    } catch (err) {
      client.close();
      throw err;
    } finally {
      client.refresh();
    }
  }

  /** True once the connection has ended. */
  get closed(): boolean {
    return this.closedFlag;
  }

  /**
   * Runs one command and resolves with its validated `return` value. Rejects with
   * QmpCommandError on an error reply, VmmError on timeout, closed connection or a reply
   * that does not match the schema.
   */
  execute<C extends QmpCommandName>(command: C, args: QmpArgs[C], timeoutMs = 30_000): Promise<QmpReturn<C>> {
    if (this.closedFlag) return Promise.reject(new VmmError(`QMP ${command}: connection closed`));
    const id = `hob-${this.nextId++}`;
    const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
    return new Promise<QmpReturn<C>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        this.refresh();
        reject(new VmmError(`QMP ${command}: no reply within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        command,
        timer,
        reject,
        resolve: (v) => {
          const r = qmpCommands[command].safeParse(v);
          if (r.success) resolve(r.data as QmpReturn<C>);
          else reject(new VmmError(`QMP ${command}: unexpected reply ${JSON.stringify(v).slice(0, 300)}`));
        },
      });
      this.refresh();
      this.sock.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /**
   * Resolves with the first event named `name` (and passing `match`) that arrives within
   * `timeoutMs`; rejects with VmmError on timeout or when the connection closes first.
   */
  waitForEvent(name: string, timeoutMs: number, match: (e: QmpEvent) => boolean = () => true): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.off('event', onEvent);
        this.off('close', onClose);
      };
      const onEvent = (e: QmpEvent): void => {
        if (e.event === name && match(e)) {
          cleanup();
          resolve(e);
        }
      };
      const onClose = (): void => {
        cleanup();
        reject(new VmmError(`QMP connection closed while waiting for ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new VmmError(`no QMP ${name} event within ${timeoutMs} ms`));
      }, timeoutMs);
      this.on('event', onEvent);
      this.on('close', onClose);
    });
  }

  /** Closes the connection (QEMU keeps running and accepts the next client). */
  close(): void {
    this.sock.destroy();
  }

  /** Keeps the event loop alive exactly while commands are in flight. */
  private refresh(): void {
    if (this.pending.size > 0) this.sock.ref();
    else this.sock.unref();
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl).trim();
      this.buf = this.buf.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      return; // QEMU never sends partial JSON lines; ignore noise rather than kill the session
    }
    if (typeof msg !== 'object' || msg === null) return;
    if ('QMP' in msg) {
      this.greetingWaiter?.(msg);
      this.greetingWaiter = undefined;
      return;
    }
    if ('event' in msg) {
      const e = eventSchema.safeParse(msg);
      if (e.success) this.emit('event', e.data);
      return;
    }
    const r = replySchema.safeParse(msg);
    if (!r.success) return;
    const p = this.pending.get(r.data.id);
    if (!p) return;
    this.pending.delete(r.data.id);
    clearTimeout(p.timer);
    this.refresh();
    if ('error' in r.data) p.reject(new QmpCommandError(p.command, r.data.error.class, r.data.error.desc));
    else p.resolve(r.data.return);
  }

  private onClose(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new VmmError(`QMP ${p.command}: connection closed (QEMU exited?)`));
      this.pending.delete(id);
    }
    this.emit('close');
  }
}
