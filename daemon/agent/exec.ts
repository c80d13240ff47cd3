/** A process started in the guest by AgentClient.exec. */
import type { Readable, Writable } from 'node:stream';
import { GuestError } from '../errors.js';
import { StreamId, type Channel } from '../protocol/index.js';
import { lostChannel } from './answer.js';

/** How an exec'd process ended: exactly one of the two is non-null. */
export interface ExecStatus {
  /** Exit code, when the process exited normally. */
  readonly code: number | null;
  /** Name of the signal that terminated it ("SIGTERM", ...), when it was killed. */
  readonly signal: string | null;
}

export class ExecProcess {
  /** Pid of the process inside the guest; also its process group id. */
  readonly pid: number;
  /** The process's stdin when the request set `stdin: true` or `tty`; end() sends EOF. Otherwise null. */
  readonly stdin: Writable | null;
  /**
   * Output. Both must be consumed (or resume()d): they share the channel's
   * flow-control window, so an unread stderr eventually stalls stdout too. With a
   * tty everything arrives on stdout and stderr ends at once.
   */
  readonly stdout: Readable;
  readonly stderr: Readable;
  /**
   * Resolves when the process has ended and all its output was delivered.
   * Rejects with AgentError if the connection is lost (or close() was called)
   * before that, with GuestError if the agent reports a failure.
   */
  readonly exited: Promise<ExecStatus>;

  constructor(
    private readonly channel: Channel,
    pid: number,
    withStdin: boolean,
    what: string,
  ) {
    this.pid = pid;
    this.stdin = withStdin ? channel.writable(StreamId.Stdin) : null;
    this.stdout = channel.readable(StreamId.Stdout);
    this.stderr = channel.readable(StreamId.Stderr);
    this.exited = new Promise<ExecStatus>((resolve, reject) => {
      channel.on('control', (message) => {
        if (message.type === 'exit') resolve({ code: message.code, signal: message.signal });
        else if (message.type === 'error') reject(new GuestError(message.code, `${what}: ${message.message}`));
      });
      // After an exit this rejection is a no-op.
      channel.once('close', (error) => reject(lostChannel(what, error)));
    });
    // Callers that only stream output need not await `exited`: never an unhandled rejection.
    this.exited.catch(() => undefined);
  }

  /** New terminal size (tty execs; ignored by the agent otherwise). */
  resize(rows: number, cols: number): void {
    this.channel.send({ type: 'resize', rows, cols });
  }

  /** Sends a signal ("SIGTERM", "SIGINT", ...) to the process's whole process group. */
  signal(name: string): void {
    this.channel.send({ type: 'signal', signal: name });
  }

  /** Abandons the process: the agent sends its process group SIGHUP, then SIGKILL after a grace. */
  close(): void {
    this.channel.close();
  }
}
