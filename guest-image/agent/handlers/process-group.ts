/**
 * Signals to an exec's process group. Every exec is started in its own session
 * (hence its own process group, whose id is the leader's pid), so a signal or a
 * kill reaches everything it started, not only the leader.
 */
import { constants } from 'node:os';
import type { Channel } from '../../../daemon/protocol/index.js';
import { log } from '../log.js';

/** Time between the SIGHUP and the SIGKILL when the host abandons an exec. */
export const KILL_GRACE_MS = 2000;

/** Signal number by name, or undefined for a name this kernel does not know. */
export function signalNumber(name: string): number | undefined {
  return (constants.signals as Record<string, number | undefined>)[name];
}

/** Signal name by number ("SIGTERM"), or "SIG<n>" when unnamed. */
export function signalName(num: number): string {
  for (const [name, value] of Object.entries(constants.signals)) if (value === num) return name;
  return `SIG${num}`;
}

/** Sends a signal to a process group; a group that is already gone is not an error. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | number): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Ends a process group the host no longer wants: SIGHUP (what a closing terminal
 * sends) and, after the grace, SIGKILL to whatever is left.
 */
export function hangUpGroup(pgid: number): void {
  if (!signalGroup(pgid, 'SIGHUP')) return;
  setTimeout(() => signalGroup(pgid, 'SIGKILL'), KILL_GRACE_MS).unref();
}

/** Forwards `signal` messages to the process group; unknown names are logged and ignored. */
export function forwardSignals(channel: Channel, pgid: number): void {
  channel.on('control', (message) => {
    if (message.type !== 'signal') return;
    const num = signalNumber(message.signal);
    if (num === undefined) log(`exec ${pgid}: ignoring unknown signal ${message.signal}`);
    else signalGroup(pgid, num);
  });
}

