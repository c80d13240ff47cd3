/**
 * A SandboxService that keeps sandbox records and nothing else: list, get,
 * create, fork and remove work on an in-memory table, every guest operation
 * fails as the manager's does for a sandbox whose agent is gone. For API tests
 * of what depends only on which sandboxes exist (token scopes), where booting
 * VMs would add minutes and test nothing more. A stand-in, named as such.
 */
import type { Sandbox, SandboxService } from '../../daemon/core/types.js';
import { ConflictError, NotFoundError, AgentError } from '../../daemon/errors.js';

export interface RecordSandboxes extends SandboxService {
  /** Makes the next creates wait until `release` is called (to test concurrent requests). */
  holdCreates(): { release: () => void };
}

export function recordSandboxes(names: readonly string[]): RecordSandboxes {
  const table = new Map<string, Sandbox>();
  let hold: Promise<void> | undefined;
  const record = (name: string, forkedFrom: Sandbox['forkedFrom'] = null): Sandbox => {
    const now = new Date().toISOString();
    return {
      id: `id${name.replace(/-/g, '')}`.slice(0, 32),
      name,
      state: 'stopped',
      stateSince: now,
      image: 'minimal',
      cpus: 1,
      memoryMiB: 512,
      diskBytes: 4 * 1024 ** 3,
      vmm: 'qemu',
      createdAt: now,
      updatedAt: now,
      lastError: null,
      urlAuth: 'private',
      labels: [],
      environment: {},
      autoCheckpoint: null,
      idle: {},
      keepAwakeUntil: null,
      forkedFrom,
    };
  };
  for (const name of names) table.set(name, record(name));
  const get = (name: string): Sandbox => {
    const found = table.get(name);
    if (!found) throw new NotFoundError(`no sandbox named "${name}"`);
    return found;
  };
  const add = async (name: string, forkedFrom: Sandbox['forkedFrom'] = null): Promise<Sandbox> => {
    if (table.has(name)) throw new ConflictError(`a sandbox named "${name}" already exists`);
    await hold;
    if (table.has(name)) throw new ConflictError(`a sandbox named "${name}" already exists`);
    const made = record(name, forkedFrom);
    table.set(name, made);
    return made;
  };
  const noGuest = async (name: string): Promise<never> => {
    get(name);
    throw new AgentError(`the guest agent of ${name} is not connected (test stand-in without VMs)`);
  };
  return {
    holdCreates() {
      let release: () => void = () => undefined;
      hold = new Promise<void>((resolve) => (release = resolve));
      return { release: () => { hold = undefined; release(); } };
    },
    list: () => [...table.values()],
    get,
    create: (input) => add(input.name),
    fork: (source, input) => {
      get(source);
      return add(input.name, { sandbox: source, checkpoint: input.from ?? null });
    },
    remove: async (name) => {
      get(name);
      table.delete(name);
    },
    update: async (name) => get(name),
    start: async (name) => get(name),
    stop: async (name) => get(name),
    sleep: async (name) => get(name),
    wake: async (name) => get(name),
    keepAwake: async (name) => get(name),
    restart: async (name) => get(name),
    resize: async (name) => get(name),
    check: noGuest,
    agent: noGuest,
    checkpoint: noGuest,
    listCheckpoints: async (name) => (get(name), []),
    getCheckpoint: async (name, ref) => {
      get(name);
      throw new NotFoundError(`no checkpoint ${ref} in sandbox ${name}`);
    },
    deleteCheckpoint: noGuest,
    restore: noGuest,
    diff: noGuest,
    fileDiff: noGuest,
    networkPolicy: (name) => (get(name), { rules: [] }),
    setNetworkPolicy: async (name) => (get(name), { rules: [] }),
  };
}
