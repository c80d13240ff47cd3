/**
 * The service supervisor of the guest agent: the set of services, their
 * definitions on disk, and the operations the `service.*` requests perform.
 *
 * Operations that change something run one at a time (a queue); reads
 * (list, get, logs) answer at once from memory. Failures are OpErrors with
 * the codes listed in daemon/protocol/messages/services.ts: ENOENT, EINVAL, EBUSY, ESRCH.
 *
 * boot() runs when the agent starts: it ends the processes a previous agent
 * left (pid files), loads every definition and starts the enabled ones in
 * `needs` order. A memory restore (hibernate, live checkpoint) keeps the
 * agent and its children as they were, so nothing happens then.
 */
import type { ServiceDefinition, ServiceInfo } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';
import { log } from '../log.js';
import { dependentsOf, findCycle, startClosure, startOrder, type NeedsGraph } from './order.js';
import { logFileOf, type ServicePaths } from './paths.js';
import { LOG_MAX_BYTES, ServiceLog } from './service-log.js';
import { endLeftovers, loadDefinitions, removeDefinition, removePidFile, saveDefinition } from './store.js';
import { ServiceUnit } from './unit.js';

/** Grace between SIGTERM and SIGKILL when the agent itself shuts down. */
const SHUTDOWN_GRACE_MS = 3000;

export interface SupervisorOptions {
  /** Rotation size of each log file (tests make it small). */
  readonly maxLogBytes?: number;
}

export class Supervisor {
  private readonly units = new Map<string, ServiceUnit>();
  private readonly logs = new Map<string, ServiceLog>();
  private queue: Promise<unknown> = Promise.resolve();
  /** Resolves once boot() has read the definitions: reads wait for it, so a fresh agent never answers "no such service" for one on disk. */
  private readonly loaded: Promise<void>;
  private markLoaded!: () => void;

  constructor(
    readonly paths: ServicePaths,
    private readonly options: SupervisorOptions = {},
  ) {
    this.loaded = new Promise((resolve) => (this.markLoaded = resolve));
  }

  /** Runs `fn` after every change queued before it. */
  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** See the module comment. Never rejects: problems are logged. */
  boot(): Promise<void> {
    return this.serialized(async () => {
      try {
        const { services, problems } = await loadDefinitions(this.paths.definitions);
        for (const problem of problems) log(`services: skipping ${problem}`);
        for (const s of services) this.units.set(s.name, new ServiceUnit(s.name, s.definition, s.enabled, this.logOf(s.name), this.paths.runtime));
        this.markLoaded();
        const ended = await endLeftovers(this.paths.runtime);
        if (ended.length > 0) log(`services: ended ${ended.length} process group(s) left by a previous agent`);
        const cycle = findCycle(this.graph());
        if (cycle) log(`services: the needs of ${cycle.join(' -> ')} form a cycle; starting them in name order`);
        const order = startOrder(this.graph());
        const enabled = order.filter((name) => this.units.get(name)?.enabled);
        if (enabled.length > 0) log(`services: starting ${enabled.join(', ')}`);
        for (const name of enabled) await this.startWithNeeds(name);
      } catch (err) {
        log(`services: boot failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      } finally {
        this.markLoaded();
      }
    });
  }

  async list(): Promise<ServiceInfo[]> {
    await this.loaded;
    return [...this.units.keys()].sort().map((name) => this.info(name));
  }

  async get(name: string): Promise<ServiceInfo> {
    await this.loaded;
    return this.info(name);
  }

  /** Creates or replaces a definition; see ServicePutRequestSchema for what `start` does. */
  put(name: string, definition: ServiceDefinition, start: boolean): Promise<ServiceInfo> {
    return this.serialized(async () => {
      this.validate(name, definition);
      const unit = this.units.get(name);
      const changed = unit !== undefined && JSON.stringify(unit.definition) !== JSON.stringify(definition);
      const enabled = start ? true : (unit?.enabled ?? false);
      await saveDefinition(this.paths.definitions, { name, definition, enabled });
      if (!unit) {
        this.units.set(name, new ServiceUnit(name, definition, enabled, this.logOf(name), this.paths.runtime));
      } else {
        unit.enabled = enabled;
        if (changed && unit.hasProcess) await unit.stop(10_000);
        unit.definition = definition;
      }
      if (start) await this.startWithNeeds(name);
      return this.info(name);
    });
  }

  delete(name: string, timeoutMs: number): Promise<void> {
    return this.serialized(async () => {
      const unit = this.require(name);
      const dependents = dependentsOf(this.graph(), name);
      if (dependents.length > 0) throw new OpError('EBUSY', `service ${name} is needed by ${dependents.join(', ')}; delete or change those first`);
      await unit.stop(timeoutMs);
      await removeDefinition(this.paths.definitions, name);
      await removePidFile(this.paths.runtime, name);
      this.units.delete(name);
    });
  }

  start(name: string): Promise<ServiceInfo> {
    return this.serialized(async () => {
      const unit = this.require(name);
      if (!unit.enabled) await this.setEnabled(unit, true);
      await this.startWithNeeds(name);
      return this.info(name);
    });
  }

  stop(name: string, timeoutMs: number): Promise<ServiceInfo> {
    return this.serialized(async () => {
      const unit = this.require(name);
      if (unit.enabled) await this.setEnabled(unit, false);
      await unit.stop(timeoutMs);
      return this.info(name);
    });
  }

  async signal(name: string, signalName: string, signalNumber: number): Promise<void> {
    await this.loaded;
    const unit = this.require(name);
    if (!unit.signal(signalNumber)) throw new OpError('ESRCH', `service ${name} is not running (cannot send ${signalName})`);
  }

  /** The log of a service; also of a deleted one whose file is left. ENOENT for neither, unless `allowMissing`. */
  async logFor(name: string, allowMissing: boolean): Promise<ServiceLog> {
    await this.loaded;
    const known = this.units.has(name) || this.logs.has(name);
    const serviceLog = this.logOf(name);
    await serviceLog.loaded;
    if (!known && !allowMissing && serviceLog.tail(1).length === 0) {
      this.logs.delete(name);
      throw new OpError('ENOENT', `no service named ${name}`);
    }
    return serviceLog;
  }

  /** Stops every process (definitions and `enabled` stay as they are) and flushes the logs: the agent is exiting. */
  async shutdown(): Promise<void> {
    await Promise.all([...this.units.values()].map((u) => u.stop(SHUTDOWN_GRACE_MS)));
    await Promise.all([...this.logs.values()].map((l) => l.close()));
  }

  // ------------------------------------------------------------ internals

  private info(name: string): ServiceInfo {
    const unit = this.require(name);
    return { name, definition: unit.definition, state: unit.state(), logFile: logFileOf(this.paths, name) };
  }

  private require(name: string): ServiceUnit {
    const unit = this.units.get(name);
    if (!unit) throw new OpError('ENOENT', `no service named ${name}`);
    return unit;
  }

  private logOf(name: string): ServiceLog {
    let serviceLog = this.logs.get(name);
    if (!serviceLog) {
      serviceLog = new ServiceLog(logFileOf(this.paths, name), this.options.maxLogBytes ?? LOG_MAX_BYTES);
      this.logs.set(name, serviceLog);
    }
    return serviceLog;
  }

  private graph(extra?: { name: string; definition: ServiceDefinition }): NeedsGraph {
    const graph = new Map<string, readonly string[]>();
    for (const [name, unit] of this.units) graph.set(name, unit.definition.needs);
    if (extra) graph.set(extra.name, extra.definition.needs);
    return graph;
  }

  private validate(name: string, definition: ServiceDefinition): void {
    for (const need of definition.needs) {
      if (need === name) throw new OpError('EINVAL', `service ${name} cannot need itself`);
      if (!this.units.has(need)) throw new OpError('EINVAL', `service ${name} needs ${need}, which does not exist (create it first)`);
    }
    const cycle = findCycle(this.graph({ name, definition }));
    if (cycle) throw new OpError('EINVAL', `the needs of ${name} would form a cycle: ${cycle.join(' -> ')}`);
    if (definition.httpPort !== undefined) {
      for (const [other, unit] of this.units) {
        if (other !== name && unit.definition.httpPort !== undefined) {
          throw new OpError('EBUSY', `service ${other} already has HTTP port ${unit.definition.httpPort}; only one service may have an HTTP port`);
        }
      }
    }
  }

  private async setEnabled(unit: ServiceUnit, enabled: boolean): Promise<void> {
    await saveDefinition(this.paths.definitions, { name: unit.name, definition: unit.definition, enabled });
    unit.enabled = enabled;
  }

  /** Starts `name` and, before it, what it needs (transitively) that does not run yet. */
  private async startWithNeeds(name: string): Promise<void> {
    for (const n of startClosure(this.graph(), name)) await this.units.get(n)?.start();
  }
}
