/**
 * hobd: the daemon. Loads the configuration, opens the database and the pool,
 * picks the VMM driver, reconciles what a previous run left, and serves the API.
 *
 * On SIGTERM/SIGINT it stops serving and disconnects from the guests but leaves
 * the VMs running: the next hobd adopts them (reconcile.ts).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApi } from './api/app.js';
import { createGuestApiHandler } from './api/guest-api.js';
import { consoleLog } from './api/log.js';
import { serveApi } from './api/server.js';
import { createSandboxHost, DEFAULT_HTTP_PORT } from './api/sandbox-host.js';
import { TokenStore } from './auth/tokens.js';
import { DashboardSessions } from './dashboard/sessions.js';
import { loadConfig } from './config.js';
import { prepareDaemonDirs } from './daemon-dirs.js';
import { serviceHttpPort } from './core/guest.js';
import { PoolImageService } from './core/images.js';
import { SandboxManager } from './core/manager.js';
import { EventLog } from './core/events.js';
import { reconcile } from './core/reconcile.js';
import { SandboxSecrets } from './core/secrets.js';
import { Templates } from './core/templates.js';
import { SessionRegistry } from './core/sessions.js';
import { StatsSampler } from './core/stats.js';
import { ConsoleLogs } from './core/console-log.js';
import { HostInfoReader, hobdChecks } from './host/info.js';
import { closeDatabase, openDatabase } from './db/index.js';
import { SandboxNetwork } from './net/index.js';
import { SecretCipher, SecretStore } from './secrets/index.js';
import { ImageVolumes, Pool, SandboxVolumes, TemplateVolumes } from './storage/index.js';
import { restrictTree } from './storage/modes.js';
import { restrictVmRunDirs } from './vmm/run-dir.js';
import { selectDriver } from './vmm/select.js';

/**
 * hobd's umask: whatever hobd and its VMM children create without an explicit mode (qemu's
 * pid file and sockets, cloud-hypervisor's snapshot files, scratch files) is root's alone.
 * What others must reach gets its mode explicitly (the run dir 0755, the API socket 0660,
 * see daemon-dirs.ts and api/server.ts).
 */
export const HOBD_UMASK = 0o077;

/** Milliseconds from the process's start to the end of loading hobd's modules (logged with the start-up timeline). */
const MODULES_LOADED_MS = performance.now();

export interface DaemonOptions {
  /** Configuration file; default $HOB_CONFIG or /etc/hob/config.yaml. */
  readonly configPath?: string;
}

const log = (message: string): void => {
  process.stderr.write(`${new Date().toISOString()} ${message}\n`);
};

export function hobVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      return (require(candidate) as { version: string }).version;
    } catch {
      // try the next location (source tree vs dist/)
    }
  }
  return '0.0.0';
}

/** Runs the daemon until SIGTERM/SIGINT. */
export async function runDaemon(options: DaemonOptions = {}): Promise<void> {
  process.umask(HOBD_UMASK);
  const config = await loadConfig(options.configPath !== undefined ? { path: options.configPath } : {});
  await prepareDaemonDirs(config);
  // Close what an older hob left open: the VMs' run dirs and the disk diffs' scratch dir
  // (only the directory itself: guest filesystems may be mounted below it).
  await restrictVmRunDirs(join(config.runDir, 'vms'));
  await restrictTree(join(config.runDir, 'diff'), 0);

  const db = openDatabase(config.dbPath);
  const pool = await Pool.open({ stateDir: config.stateDir, ...config.pool, onBackgroundError: (err, p) => log(`hob: cannot delete ${p}: ${err.message}`) });
  const selection = await selectDriver({ ...(config.vmm.driver === 'auto' ? {} : { configured: config.vmm.driver }), ...(config.vmm.chBinary ? { chBinary: config.vmm.chBinary } : {}), qemuBinary: config.vmm.qemuBinary, allowForeignArch: config.vmm.allowForeignArch });
  log(`hobd ${hobVersion()}: pool ${pool.root} (${pool.kind}), VMM ${selection.kind}: ${selection.reason}`);

  // Secrets (docs/architecture.md §11) need the network: the proxy sits in each sandbox's path.
  let manager: SandboxManager | undefined;
  let network: SandboxNetwork | undefined;
  const secrets = config.network.enabled
    ? new SandboxSecrets({
        db,
        store: new SecretStore(db, SecretCipher.open(config.secrets.keyPath)),
        caRoot: join(config.stateDir, 'secrets', 'ca'),
        upstreamCa: config.secrets.upstreamCaFile !== undefined ? await readFile(config.secrets.upstreamCaFile, 'utf8') : undefined,
        log,
        refreshNetwork: async (id) => network?.refreshSecrets(id),
        runningAgent: async (id) => manager?.runningAgent(id),
      })
    : undefined;
  // Before reconcile: it re-attaches the networks of adopted VMs and removes the rest.
  network = config.network.enabled
    ? await SandboxNetwork.open({
        transitRange: config.network.transitRange,
        resolverPort: config.network.resolverPort,
        upstreamDns: config.network.upstreamDns,
        netnsPrefix: config.network.netnsPrefix,
        forwardingStateFile: join(config.runDir, 'net-forwarding.json'),
        log,
        ...(secrets ? { secrets: { port: config.network.secretProxyPort, wants: (id: string, name: string) => secrets.wants(id, name), createProxy: (id: string, pinned: (name: string) => readonly string[]) => secrets.createProxy(id, pinned) } } : {}),
      })
    : undefined;
  const sessions = new SessionRegistry();
  const volumes = new SandboxVolumes(pool);
  const images = new ImageVolumes(pool);
  const templates = new Templates({ db, templates: new TemplateVolumes(pool), images, driver: selection.driver, config, network, log });
  manager = new SandboxManager({ db, volumes, images, driver: selection.driver, config, sessions, log, network, secrets, templates });
  const reconcileStart = performance.now();
  const report = await reconcile({ db, volumes, images, driver: selection.driver, config, manager, log });
  const reconcileMs = performance.now() - reconcileStart;
  log(`reconcile: ${JSON.stringify(report)}`);
  manager.startSchedules();
  // After reconcile (it removed a crashed build's VMM and network): missing or stale templates build in the background.
  await templates.start();

  const tokens = new TokenStore(db);
  const events = new EventLog(db);
  const dashboard = new DashboardSessions(tokens);
  const stats = new StatsSampler({ db, liveProcesses: () => manager.liveProcesses(), diskUsedBytes: (id) => volumes.diskAllocatedBytes(id) });
  stats.start();
  const api = createApi({
    events,
    stats,
    consoleLogs: new ConsoleLogs({ db, config }),
    host: new HostInfoReader({ space: () => pool.space(), vmm: selection, checks: hobdChecks(config) }),
    sandboxes: manager,
    sessions,
    tokens,
    // Sandbox URLs, http://<name>.localhost:<port>/: to the service declaring http_port, else 8080.
    sandboxHost: createSandboxHost({ sandboxes: manager, sessions, tokens, port: config.api.tcpPort, httpPortFor: serviceHttpPort(manager, DEFAULT_HTTP_PORT) }),
    images: new PoolImageService(pool, { templates }),
    templates,
    port: config.api.tcpPort,
    version: hobVersion(),
    dashboard,
    ...(secrets ? { secrets } : {}),
  });
  // The API inside every guest (/.sprite/api.sock): the host API, for that sandbox only.
  manager.serveGuestApi(createGuestApiHandler({
    fetch: (request) => Promise.resolve(api.app.fetch(request, { listener: 'unix' })),
    nameOf: (id) => manager.nameOf(id),
    restore: (name, ref) => manager.restore(name, ref),
    getCheckpoint: (name, ref) => manager.getCheckpoint(name, ref),
    tasks: manager.guestTasks,
    log: consoleLog,
  }));
  const servers = await serveApi(api, {
    socketPath: config.api.socketPath,
    socketGroup: config.api.socketGroup,
    ...(config.api.tcpPort !== 0 ? { tcpHost: config.api.tcpHost, tcpPort: config.api.tcpPort } : {}),
  });
  log(`listening on ${config.api.socketPath}${config.api.tcpPort !== 0 ? ` and http://${config.api.tcpHost}:${config.api.tcpPort}` : ''}`);
  // Ready means reconciled too: hobd listens only after reconcile. bench/startup.ts reads this line.
  log(`start-up: modules loaded after ${Math.round(MODULES_LOADED_MS)} ms, reconcile took ${Math.round(reconcileMs)} ms, listening and ready after ${Math.round(performance.now())} ms`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      log(`${signal}: shutting down (VMs keep running and are adopted at the next start)`);
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  events.close();
  stats.stop();
  await servers.close();
  sessions.shutdown('hobd is stopping');
  manager.stopSchedules();
  manager.detachAll();
  // Namespaces and rules stay for the VMs that keep running; only the resolvers stop.
  await network?.close();
  await pool.close({ unmount: false });
  closeDatabase(db);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const configIndex = process.argv.indexOf('--config');
  const configPath = configIndex > 0 ? process.argv[configIndex + 1] : undefined;
  runDaemon(configPath !== undefined ? { configPath } : {}).then(
    () => process.exit(0),
    (err: Error) => {
      log(`hobd: ${err.message}`);
      process.exit(1);
    },
  );
}
