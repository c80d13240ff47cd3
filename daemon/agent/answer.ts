/** Waiting for and validating what the agent answers on a channel. */
import * as z from 'zod';
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

/**
 * The agent answered something its schema refuses (a time no Date can hold, a
 * directory entry named "../x", ...): a protocol violation, so an AgentError,
 * but the API answers it 502 (the guest, hob's upstream, sent a bad answer)
 * rather than 503 (unreachable, try again).
 */
export class InvalidGuestAnswerError extends AgentError {}

/** Validates a value from the guest; a mismatch is a protocol violation (InvalidGuestAnswerError). */
export function parseFromGuest<S extends z.core.$ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const parsed = z.safeParse(schema, value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` (at ${issue.path.join('.')})` : '';
    throw new InvalidGuestAnswerError(`${what}: invalid answer from the guest agent: ${issue?.message ?? 'schema mismatch'}${where}`);
  }
  return parsed.data;
}
