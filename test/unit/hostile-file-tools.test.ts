/**
 * copyFile and chown are the guest's own `cp` and `chown` run through exec
 * (core/guest-file-tools.ts): what comes back (the tool's output and exit
 * status) is the guest's to invent. A scripted agent on the real protocol
 * plays a guest that floods stderr without end, and one that fails with a
 * long complaint full of control characters: hob stops reading at its cap and
 * passes on a short message, never the flood.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { chownInGuest, copyInGuest } from '../../daemon/core/guest-file-tools.js';
import { AgentError, GuestError } from '../../daemon/errors.js';
import { StreamId } from '../../daemon/protocol/frame.js';
import type { Channel } from '../../daemon/protocol/index.js';
import { startScriptedAgent, type ScriptedAgent, type ScriptedRequest } from '../helpers/scripted-agent.js';

const CAPABILITIES = ['exec', 'fs.stat'];

/** A guest that says every path is a file and answers execs with `exec`. */
function guest(exec: (channel: Channel) => void): Promise<ScriptedAgent> {
  return startScriptedAgent(CAPABILITIES, (channel: Channel, request: ScriptedRequest) => {
    if (request.op === 'fs.stat') {
      channel.send({ type: 'result', value: { name: 'f', type: 'file', size: 1, mode: 0o644, uid: 0, gid: 0, mtimeMs: 0 } });
    } else if (request.op === 'exec') {
      channel.send({ type: 'ready', value: { pid: 4242 } });
      exec(channel);
    } else {
      channel.send({ type: 'error', code: 'ENOTSUP', message: `not scripted: ${request.op}` });
    }
  });
}

describe('copy and chown with a hostile guest', () => {
  let agent: ScriptedAgent | undefined;
  afterEach(() => {
    agent?.dispose();
    agent = undefined;
  });

  it('stops reading a tool that floods its output, and fails the copy', async () => {
    let sent = 0;
    agent = await guest((channel) => {
      const stderr = channel.writable(StreamId.Stderr);
      stderr.on('error', () => undefined);
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      // Writes until the host stops granting window or closes the channel: never exits.
      const pump = (): void => {
        while (sent < 64 * 1024 * 1024) {
          sent += chunk.length;
          if (!stderr.write(chunk)) {
            stderr.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const error = await copyInGuest(agent.client, '/a', '/b').then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(AgentError);
    expect((error as Error).message).toMatch(/output exceeds 65536 bytes/);
    // The host read a little past its cap (one flow-control window), nowhere near the flood.
    expect(sent).toBeLessThan(16 * 1024 * 1024);
  }, 60_000);

  it('turns a failure into a short message, whatever the guest prints', async () => {
    const complaint = `cp: \u001b[31mno\u0007 ${'x'.repeat(20_000)}\nsecond line`;
    agent = await guest((channel) => {
      channel.writable(StreamId.Stdout).end();
      channel.writable(StreamId.Stderr).end(complaint);
      channel.send({ type: 'exit', code: 1, signal: null });
    });
    const error = await chownInGuest(agent.client, '/a', { uid: 0 }).then(() => undefined, (err: unknown) => err);
    expect(error).toBeInstanceOf(GuestError);
    expect((error as GuestError).guestCode).toBe('EIO');
    expect((error as Error).message.length).toBeLessThan(400);
    expect((error as Error).message).toMatch(/^chown failed \(exit 1\): cp: /);
  }, 60_000);
});
