/**
 * Secrets for sandboxes (docs/architecture.md §11), the use cases the API frames:
 * secrets (set, list, remove), grants (grant, revoke, list), and what follows a
 * change: the sandbox's redirect set is rebuilt (net/secret-redirect.ts) and a
 * running guest gets its new placeholder variables (the agent's
 * `secrets.configure`). The launcher calls `configureGuest` after every boot and
 * resume, so a guest always holds the variables of its grants, and the proxy CA
 * of its own sandbox (a fork gets its own CA and, unless asked, no grant).
 * Also the daemon side of each sandbox's secret proxy: its CA (kept under
 * `<stateDir>/secrets/ca/<id>/`, never in the pool), the values it reads per
 * request, and its audit records, which become events `secret-used` and
 * `secret-blocked`. No value ever leaves through here but into the proxy.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentClient } from '../agent/index.js';
import { UnsupportedByAgentError } from '../agent/errors.js';
import { appendEvent, getSandboxByName, type HobDb } from '../db/index.js';
import { NotFoundError } from '../errors.js';
// Not the secret proxy's index: its CA module loads @peculiar/x509 (some 230 files), which
// hobd needs only when a sandbox with secrets starts, so ca-files.ts loads it then.
import type { SandboxCa } from '../net/secret-proxy/ca.js';
import { loadOrCreateCa } from '../net/secret-proxy/ca-files.js';
import { SecretProxy } from '../net/secret-proxy/server.js';
import type { SecretAuditEvent } from '../net/secret-proxy/types.js';
import { defaultEnvName, hostMatches, SecretConflictError, type GrantInfo, type SecretInfo, type SecretStore } from '../secrets/index.js';
import { envNameSchema, parseField } from '../secrets/validate.js';
import { withDeadline } from './deadline.js';

/** The agent capability that takes the CA and the placeholder variables. */
export const CAPABILITY_SECRETS = 'secrets.configure';
/** How long a guest may take to take its secrets configuration (it may run under a sandbox's lock). */
export const SECRETS_CONFIGURE_DEADLINE_MS = 15_000;

/** One grant asked for by name (a create's `secrets`, `hob secrets grant`). */
export interface GrantRequest {
  readonly secret: string;
  readonly env?: string | undefined;
}

export interface SandboxSecretsDeps {
  readonly db: HobDb;
  readonly store: SecretStore;
  /** Where the sandboxes' proxy CAs are kept (`<stateDir>/secrets/ca`). */
  readonly caRoot: string;
  /** CAs the proxy verifies real hosts against (PEM); undefined: Node's roots. */
  readonly upstreamCa?: string | undefined;
  readonly log: (message: string) => void;
  /** Rebuilds a running sandbox's redirect set (SandboxNetwork.refreshSecrets); absent without networking. */
  readonly refreshNetwork?: (id: string) => Promise<unknown>;
  /** The agent of a sandbox whose VM runs (not paused), else undefined (set once the manager exists). */
  runningAgent?: (id: string) => Promise<AgentClient | undefined>;
}

export class SandboxSecrets {
  private readonly cas = new Map<string, Promise<SandboxCa>>();

  constructor(private readonly deps: SandboxSecretsDeps) {}

  // ---------------------------------------------------------------- secrets

  /** Creates or replaces a secret; sandboxes that have it see new hosts and value at their next request. */
  async set(name: string, input: { hosts: unknown; value: unknown }): Promise<SecretInfo> {
    const info = this.deps.store.set({ name, ...input });
    await this.refresh(this.deps.store.sandboxesGranted(info.name), false);
    return info;
  }

  list(): SecretInfo[] {
    return this.deps.store.list();
  }

  /** Removes a secret and its grants: no sandbox gets its value from the next request on. */
  async remove(name: string): Promise<void> {
    const info = this.deps.store.get(name);
    const ids = this.deps.store.sandboxesGranted(info.name);
    this.deps.store.remove(info.name);
    await this.refresh(ids, true);
  }

  // ---------------------------------------------------------------- grants

  /**
   * Grants a secret to a sandbox. A running guest gets the variable at once (for the
   * processes it starts from then on); an agent that cannot take it undoes the grant.
   * @throws NotFoundError (sandbox), SecretNotFoundError, InvalidSecretInputError,
   *   SecretConflictError, UnsupportedByAgentError (an old guest agent).
   */
  async grant(sandboxName: string, req: GrantRequest): Promise<GrantInfo> {
    const id = this.sandboxId(sandboxName);
    const grant = this.deps.store.grant(id, req.secret, req.env);
    try {
      await this.pushToRunning(id, true);
    } catch (err) {
      if (err instanceof UnsupportedByAgentError) {
        this.deps.store.revoke(id, grant.secretName);
        throw err;
      }
      // A guest that is stopping or slow gets its variables at its next start.
      this.deps.log(`hob: secrets of ${sandboxName}: ${(err as Error).message}`);
    }
    await this.deps.refreshNetwork?.(id);
    return grant;
  }

  /** Ends a grant: the next request carries the placeholder unchanged. */
  async revoke(sandboxName: string, secret: string): Promise<void> {
    const id = this.sandboxId(sandboxName);
    this.deps.store.revoke(id, secret);
    await this.refresh([id], true);
  }

  grants(sandboxName: string): GrantInfo[] {
    return this.deps.store.grants(this.sandboxId(sandboxName));
  }

  /**
   * Checks grants a create asks for before anything is made: the secrets exist, each is
   * asked once, and the variables are valid and distinct.
   * @throws SecretNotFoundError, InvalidSecretInputError, SecretConflictError
   */
  checkGrantable(reqs: readonly GrantRequest[]): void {
    const secrets = new Set<string>();
    const vars = new Set<string>();
    for (const r of reqs) {
      const name = this.deps.store.get(r.secret).name;
      const env = parseField(envNameSchema, 'env', r.env ?? defaultEnvName(name));
      if (secrets.has(name)) throw new SecretConflictError(`secret "${name}" is asked for twice`);
      if (vars.has(env)) throw new SecretConflictError(`variable ${env} is asked for twice`);
      secrets.add(name);
      vars.add(env);
    }
  }

  /** The grants of a new sandbox (before its first boot). @throws as grant */
  grantAll(sandboxId: string, reqs: readonly GrantRequest[]): void {
    for (const r of reqs) this.deps.store.grant(sandboxId, r.secret, r.env);
  }

  // ---------------------------------------------------------------- the guest

  /**
   * Gives a guest its sandbox's CA and placeholder variables (after a boot or a resume,
   * before it counts as running). An agent without the capability gets nothing; if the
   * sandbox has grants that is logged and recorded as an event `secret-unsupported`.
   */
  async configureGuest(sandboxId: string, agent: AgentClient): Promise<void> {
    const grants = this.deps.store.grants(sandboxId);
    if (!agent.supports(CAPABILITY_SECRETS)) {
      if (grants.length > 0) {
        const message = `the guest agent (version ${agent.agentVersion}) cannot take secrets; rebuild or update the guest image`;
        this.deps.log(`hob: sandbox ${sandboxId}: ${message}`);
        appendEvent(this.deps.db, { sandboxId, type: 'secret-unsupported', data: { message } });
      }
      return;
    }
    const ca = await this.ca(sandboxId);
    const env = Object.fromEntries(grants.map((g) => [g.env, g.placeholder]));
    await withDeadline(agent.configureSecrets({ caPem: ca.certPem, env }), SECRETS_CONFIGURE_DEADLINE_MS, 'the guest agent (secrets.configure)');
  }

  /** Forgets a removed sandbox's CA (its grants went with its row). */
  async forget(sandboxId: string): Promise<void> {
    this.cas.delete(sandboxId);
    await rm(join(this.deps.caRoot, sandboxId), { recursive: true, force: true });
  }

  // ---------------------------------------------------------------- the proxy (net/secret-redirect.ts)

  /** Whether `name` is a host of a secret granted to the sandbox. */
  wants(sandboxId: string, name: string): boolean {
    return hostMatches(this.deps.store.grantedHosts(sandboxId), name);
  }

  async createProxy(sandboxId: string, pinned: (name: string) => readonly string[]): Promise<SecretProxy> {
    return new SecretProxy({
      sandboxId,
      ca: await this.ca(sandboxId),
      secrets: () => this.deps.store.activeSecrets(sandboxId),
      pinnedAddresses: pinned,
      ...(this.deps.upstreamCa !== undefined ? { upstreamCa: this.deps.upstreamCa } : {}),
      audit: (e) => this.audit(e),
    });
  }

  private audit(e: SecretAuditEvent): void {
    try {
      appendEvent(this.deps.db, {
        sandboxId: e.sandboxId,
        type: e.type === 'secret.substituted' ? 'secret-used' : 'secret-blocked',
        data: { secret: e.secret, host: e.host, ...(e.hostHeader !== undefined ? { hostHeader: e.hostHeader } : {}), method: e.method, path: e.path, status: e.status },
      });
    } catch (err) {
      // The sandbox may have been removed meanwhile (its events go with it).
      this.deps.log(`hob: recording a secret event of ${e.sandboxId}: ${(err as Error).message}`);
    }
  }

  private ca(sandboxId: string): Promise<SandboxCa> {
    let ca = this.cas.get(sandboxId);
    if (!ca) {
      ca = loadOrCreateCa(join(this.deps.caRoot, sandboxId), sandboxId);
      ca.catch(() => this.cas.delete(sandboxId));
      this.cas.set(sandboxId, ca);
    }
    return ca;
  }

  private sandboxId(name: string): string {
    const row = getSandboxByName(this.deps.db, name);
    if (!row) throw new NotFoundError(`no sandbox named "${name}"`);
    return row.id;
  }

  /** Sends the grants to a running guest. With `strict`, an agent without the capability is an error. */
  private async pushToRunning(id: string, strict: boolean): Promise<void> {
    const agent = await this.deps.runningAgent?.(id);
    if (!agent) return;
    if (!agent.supports(CAPABILITY_SECRETS) && strict) throw new UnsupportedByAgentError(CAPABILITY_SECRETS, agent.agentVersion);
    await this.configureGuest(id, agent);
  }

  /** After grants changed: the redirect sets, and (`guests`) the running guests' variables. Failures are logged. */
  private async refresh(ids: readonly string[], guests: boolean): Promise<void> {
    for (const id of ids) {
      await this.deps.refreshNetwork?.(id).catch((err: Error) => this.deps.log(`hob: secrets of ${id}: ${err.message}`));
      if (guests) await this.pushToRunning(id, false).catch((err: Error) => this.deps.log(`hob: secrets of ${id}: ${err.message}`));
    }
  }
}

