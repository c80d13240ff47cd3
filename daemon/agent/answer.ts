/** Waiting for and validating what the agent answers on a channel. */
import type { z } from 'zod';
import type { Channel, ChannelMessage } from '../protocol/index.js';
import { AgentError, GuestError } from '../errors.js';

/**
 * The value of the first `ready` or `result` message on a channel, passed
 * through `build`. Rejects with GuestError when the agent answers `error`, and
 * with AgentError when the channel closes first (connection lost), another
 * message comes first, or `build` throws (the channel is then closed).
 *
 * `build` runs synchronously when the answer arrives. Whatever must listen to
 * the channel after the answer (an exec's `exit`, a watch's `port` events) has
 * to be attached there: frames that follow the answer in the same read are
 * dispatched before any promise continuation would run.
 */
export function firstAnswer<T = unknown>(channel: Channel, expect: 'ready' | 'result', what: string, build?: (value: unknown) => T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const cleanup = (): void => {
      channel.off('control', onControl);
      channel.off('close', onClose);
    };
    const onControl = (message: ChannelMessage): void => {
      cleanup();
      if (message.type === expect) {
        try {
          resolve(build ? build(message.value) : (message.value as T));
        } catch (err) {
          channel.close();
          reject(err);
        }
      } else if (message.type === 'error') {
        reject(new GuestError(message.code, `${what}: ${message.message}`));
      } else {
        channel.close();
        reject(new AgentError(`${what}: the agent sent "${message.type}" where "${expect}" was due`));
      }
    };
    const onClose = (error: Error | undefined): void => {
      cleanup();
      reject(lostChannel(what, error));
    };
    channel.on('control', onControl);
    channel.on('close', onClose);
  });
}

/** The AgentError for a channel that ended before its operation completed. */
export function lostChannel(what: string, error: Error | undefined): AgentError {
  return error
    ? new AgentError(`${what}: connection to the guest agent lost (${error.message})`, { cause: error })
    : new AgentError(`${what}: the guest agent closed the channel before completing the operation`);
}

/** Validates a value from the guest; a mismatch is a protocol violation (AgentError). */
export function parseFromGuest<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new AgentError(`${what}: invalid answer from the guest agent: ${parsed.error.issues[0]?.message ?? 'schema mismatch'}`);
  }
  return parsed.data;
}
