/**
 * The vsock transport (cloud-hypervisor, vhost-vsock). Node has no AF_VSOCK, so
 * socat accepts guest vsock connections on AGENT_VSOCK_PORT and relays each to
 * the agent's unix socket; every connection is a session of its own. socat is
 * restarted if it dies.
 */
import { readdir } from 'node:fs/promises';
import type net from 'node:net';
import { execa } from 'execa';
import { AGENT_VSOCK_PORT } from '../../../daemon/protocol/index.js';
import { log } from '../log.js';
import { listenUnix } from './unix.js';

export const VSOCK_RELAY_SOCKET = '/run/hob/agent.sock';
const RESTART_DELAY_MS = 1000;

const VSOCK_DRIVER = '/sys/bus/virtio/drivers/vmw_vsock_virtio_transport';

/**
 * Whether this guest has a virtio vsock device. /dev/vsock alone is not enough:
 * it exists as soon as the vsock module is loaded, device or not.
 */
export async function hasVsock(): Promise<boolean> {
  try {
    return (await readdir(VSOCK_DRIVER)).some((entry) => entry.startsWith('virtio'));
  } catch {
    return false;
  }
}

export async function serveVsock(onConnection: (socket: net.Socket) => void, port = AGENT_VSOCK_PORT): Promise<void> {
  await listenUnix(VSOCK_RELAY_SOCKET, onConnection);
  const relay = (): void => {
    const child = execa('socat', [`VSOCK-LISTEN:${port},reuseaddr,fork`, `UNIX-CONNECT:${VSOCK_RELAY_SOCKET}`], {
      reject: false,
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: 'inherit',
    });
    void child.then((result) => {
      log(`socat vsock relay exited (${result.exitCode ?? result.signal ?? 'spawn failed'}); restarting`);
      setTimeout(relay, RESTART_DELAY_MS);
    });
  };
  relay();
  log(`serving vsock port ${port}`);
}
