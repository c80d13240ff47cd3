/**
 * hob guest agent. Runs inside the guest as root (child of tini, started by
 * /opt/hob/init) and serves the agent protocol on every transport it finds:
 *   - the virtio-serial port AGENT_VIRTIO_PORT_NAME (QEMU);
 *   - vsock port AGENT_VSOCK_PORT through socat (cloud-hypervisor, vhost-vsock);
 * or, with `--listen PATH`, only on a unix socket (to run it as a plain process,
 * e.g. in the host-side tests).
 *
 * Options:
 *   --listen PATH        serve on this unix socket only. The agent then runs as
 *                        a plain process, usually on a host, so the operations
 *                        that act on the whole machine (SYSTEM_OPS: fsfreeze of
 *                        /, setting the clock, power off) are left out unless
 *                        --system-ops is given too.
 *   --system-ops         keep SYSTEM_OPS in --listen mode
 *   --capabilities LIST  advertise and serve only these comma-separated
 *                        capabilities (emulates an older agent, for tests)
 *   --services-root DIR  keep service definitions, logs and pid files under DIR
 *                        (DIR/etc/hob/services, ...) instead of "/". Services are
 *                        on in the guest; in --listen mode only with this option.
 *   --keep-awake-socket PATH
 *                        serve the keep-awake socket (keep-awake/socket.ts) at
 *                        PATH instead of /run/hob/keep-awake.sock. Served in the
 *                        guest; in --listen mode only with this option.
 *   --guest-api-socket PATH
 *                        serve the API inside the guest (guest-api/socket.ts) at
 *                        PATH instead of /.sprite/api.sock. Served in the guest;
 *                        in --listen mode only with this option.
 *   --default-user-file PATH
 *                        read the default user of execs from PATH instead of
 *                        /etc/hob/default-user (default-user.ts). Read in the
 *                        guest; in --listen mode only with this option.
 *
 * `agent.mjs keep-awake ARGS` runs the in-guest `hob-keep-awake` command
 * (keep-awake/cli.ts) instead of the agent; `agent.mjs sprite-env ARGS` the
 * in-guest `sprite-env` (guest-api/cli.ts).
 *
 * The agent never exits on its own: failures are logged and the transport reopened.
 */
import './threadpool.js';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { AGENT_VIRTIO_PORT_NAME, type Op } from '../../daemon/protocol/index.js';
import { DEFAULT_USER_FILE, setDefaultUserFile } from './default-user.js';
import { KNOWN_OPS } from './handlers/index.js';
import { kernelHelper } from './handlers/kernel-helper.js';
import { KEEP_AWAKE_COMMAND, runKeepAwakeCli } from './keep-awake/cli.js';
import { KEEP_AWAKE_SOCKET, serveKeepAwakeSocket } from './keep-awake/socket.js';
import { runSpriteEnvCli, SPRITE_ENV_COMMAND } from './guest-api/cli.js';
import { GUEST_API_SOCKET, serveGuestApiSocket } from './guest-api/socket.js';
import { FEATURE_SERVICES, SERVICE_OPS, startServices } from './services/index.js';
import { loadPty } from './handlers/exec-pty.js';
import { SECRETS_CAPABILITY, secretsServed, setSecretsRoot } from './handlers/secrets.js';
import { markBootPhase } from './boot-phases.js';
import { log } from './log.js';
import { serveSession, type AgentIdentity } from './session.js';
import { listenUnix } from './transport/unix.js';
import { CharDeviceStream, findVirtioPort } from './transport/virtio-serial.js';
import { hasVsock, serveVsock } from './transport/vsock.js';
import { AGENT_VERSION } from './version.js';

/** Features beyond plain op names. */
export const FEATURE_EXEC_TTY = 'exec.tty';
export const FEATURE_HELLO_NONCE = 'hello.nonce';
/** An exec without a user runs as the default user, and a given env keeps the user's HOME (default-user.ts). */
export const FEATURE_EXEC_DEFAULT_USER = 'exec.default-user';

/** Operations that act on the whole machine the agent runs on. */
export const SYSTEM_OPS: ReadonlySet<Op> = new Set<Op>(['fs.freeze', 'fs.thaw', 'clock.set', 'shutdown', 'random.reseed']);

const DISCOVERY_RETRY_MS = 1000;
const REOPEN_DELAY_MS = 1000;
/** How long after the agent starts serving the kernel helper (handlers/kernel-helper.ts) is started. */
const KERNEL_HELPER_WARM_DELAY_MS = 5000;

/** `inGuest`: not under --listen; ops that rewrite the machine's own files (identity.set) are served only there. */
async function identity(only: string[] | undefined, withSystemOps: boolean, withServices: boolean, inGuest: boolean): Promise<AgentIdentity> {
  const all: string[] = [...KNOWN_OPS].filter(
    (op) =>
      (withSystemOps || !SYSTEM_OPS.has(op)) &&
      (withServices || !SERVICE_OPS.has(op)) &&
      (op !== SECRETS_CAPABILITY || secretsServed()) &&
      (op !== 'identity.set' || inGuest),
  );
  all.push(FEATURE_HELLO_NONCE, FEATURE_EXEC_DEFAULT_USER);
  if (withServices) all.push(FEATURE_SERVICES);
  if (await loadPty()) all.push(FEATURE_EXEC_TTY);
  const capabilities = only ? all.filter((c) => only.includes(c)) : all;
  const ops = new Set([...KNOWN_OPS].filter((op) => capabilities.includes(op))) as Set<Op>;
  return { agentVersion: AGENT_VERSION, bootId: randomUUID(), capabilities, ops };
}

/** Serves the virtio-serial port for as long as the agent lives, reopening it if it fails. */
async function serveVirtio(device: string, id: AgentIdentity): Promise<void> {
  for (;;) {
    try {
      const stream = await CharDeviceStream.open(device);
      markBootPhase('agent-listening');
      log(`serving ${device}`);
      const mux = serveSession(stream, id, 'virtio');
      await new Promise<void>((resolve) => mux.once('close', () => resolve()));
      stream.destroy();
    } catch (err) {
      log(`${device}: ${String(err)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, REOPEN_DELAY_MS));
  }
}

/** What the loader (/opt/hob/agent/agent.mjs) did with the bundle's code cache: used, rejected, none. */
function codeCacheState(): string {
  const state = (globalThis as { __hobAgentCodeCache?: unknown }).__hobAgentCodeCache;
  return typeof state === 'string' ? state : 'none (not started by the loader)';
}

async function main(): Promise<void> {
  markBootPhase('agent-main');
  process.on('uncaughtException', (err) => log(`uncaught: ${err.stack ?? String(err)}`));
  process.on('unhandledRejection', (err) => log(`unhandled rejection: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
  process.on('SIGHUP', () => undefined);

  const { values } = parseArgs({
    options: {
      listen: { type: 'string' },
      capabilities: { type: 'string' },
      'system-ops': { type: 'boolean', default: false },
      'services-root': { type: 'string' },
      'keep-awake-socket': { type: 'string' },
      'default-user-file': { type: 'string' },
      'guest-api-socket': { type: 'string' },
    },
    strict: true,
  });
  const only = values.capabilities?.split(',').map((s) => s.trim()).filter(Boolean);
  const servicesRoot = values['services-root'] ?? (values.listen ? undefined : '/');
  // Secrets write into the trust store: only in the guest, never under --listen (on a host).
  setSecretsRoot(values.listen ? undefined : '/');
  const id = await identity(only, !values.listen || values['system-ops'] === true, servicesRoot !== undefined, !values.listen);
  log(`agent ${AGENT_VERSION} starting, boot ${id.bootId}, code cache ${codeCacheState()}`);
  if (servicesRoot !== undefined) {
    const supervisor = startServices(servicesRoot);
    // Asked to exit (never in the guest, where nothing signals the agent; tests do): end the services first.
    process.once('SIGTERM', () => {
      supervisor.shutdown().finally(() => process.exit(0));
    });
  }
  setDefaultUserFile(values['default-user-file'] ?? (values.listen ? undefined : DEFAULT_USER_FILE));
  const keepAwakeSocket = values['keep-awake-socket'] ?? (values.listen ? undefined : KEEP_AWAKE_SOCKET);
  if (keepAwakeSocket !== undefined) {
    // Not fatal: the agent's real work goes on without it.
    serveKeepAwakeSocket(keepAwakeSocket).then(
      () => log(`keep-awake socket at ${keepAwakeSocket}`),
      (err: unknown) => log(`keep-awake socket ${keepAwakeSocket}: ${String(err)}`),
    );
  }
  const guestApiSocket = values['guest-api-socket'] ?? (values.listen ? undefined : GUEST_API_SOCKET);
  if (guestApiSocket !== undefined) {
    serveGuestApiSocket(guestApiSocket).then(
      () => log(`guest API socket at ${guestApiSocket}`),
      (err: unknown) => log(`guest API socket ${guestApiSocket}: ${String(err)}`),
    );
  }
  let sessions = 0;
  const onConnection = (socket: import('node:net').Socket): void => {
    serveSession(socket, id, `session ${++sessions}`);
  };

  if (values.listen) {
    await listenUnix(values.listen, onConnection);
    log(`listening on ${values.listen}`);
    return;
  }

  let serving = false;
  let reported = false;
  while (!serving) {
    const device = await findVirtioPort(AGENT_VIRTIO_PORT_NAME);
    if (device) {
      void serveVirtio(device, id);
      serving = true;
    }
    if (await hasVsock()) {
      try {
        await serveVsock(onConnection);
        markBootPhase('agent-listening');
        serving = true;
      } catch (err) {
        log(`vsock: ${String(err)}`);
      }
    }
    if (!serving) {
      if (!reported) log(`no transport yet (no virtio port ${AGENT_VIRTIO_PORT_NAME}, no /dev/vsock); waiting`);
      reported = true;
      await new Promise((resolve) => setTimeout(resolve, DISCOVERY_RETRY_MS));
    }
  }
  // The first checkpoint or resume should not wait for the kernel helper to start; boot work goes first.
  if (['fs.freeze', 'random.reseed', 'clock.set'].some((op) => id.ops.has(op as Op))) {
    setTimeout(() => void kernelHelper.warm(), KERNEL_HELPER_WARM_DELAY_MS).unref();
  }
}

if (process.argv[2] === SPRITE_ENV_COMMAND) {
  void runSpriteEnvCli(process.argv.slice(3)).then((status) => {
    process.exitCode = status;
  });
} else if (process.argv[2] === KEEP_AWAKE_COMMAND) {
  void runKeepAwakeCli(process.argv.slice(3)).then((status) => {
    process.exitCode = status;
  });
} else if (process.env.HOB_AGENT_WRITE_CODE_CACHE === '1') {
  // The image build evaluates the bundle for its code cache (rootfs/opt/hob/agent/agent.mjs): no agent.
} else {
  main().catch((err: unknown) => {
    log(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  });
}
