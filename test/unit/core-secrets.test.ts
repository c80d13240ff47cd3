/**
 * core/secrets.ts on a real database without a VM (docs/architecture.md §11): a create's
 * grants are checked before anything is made, grants by sandbox name, the redirect's
 * question (`wants`), and what a revoke or a removed secret changes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SandboxSecrets } from '../../daemon/core/secrets.js';
import { closeDatabase, insertSandbox, openDatabase, type HobDb } from '../../daemon/db/index.js';
import { NotFoundError } from '../../daemon/errors.js';
import { InvalidSecretInputError, SecretCipher, SecretConflictError, SecretNotFoundError, SecretStore } from '../../daemon/secrets/index.js';

describe('SandboxSecrets', () => {
  let dir: string;
  let db: HobDb;
  let secrets: SandboxSecrets;
  const refreshed: string[] = [];
  let id = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-core-secrets-'));
    db = openDatabase(join(dir, 'hob.db'));
    const store = new SecretStore(db, SecretCipher.open(join(dir, 'secrets.key')));
    secrets = new SandboxSecrets({ db, store, caRoot: join(dir, 'ca'), log: () => undefined, refreshNetwork: async (sid) => { refreshed.push(sid); } });
    id = insertSandbox(db, { name: 'box', state: 'stopped', image: 'minimal', cpus: 1, memoryMiB: 512, diskBytes: 1 << 30, vmm: 'qemu' }).id;
  });
  afterAll(async () => {
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  it('checks a create\'s grants before anything is made', async () => {
    await secrets.set('gh', { hosts: ['github.com', 'api.github.com'], value: 'ghp_value' });
    await secrets.set('anthropic', { hosts: ['api.anthropic.com'], value: 'sk-ant-value' });
    expect(() => secrets.checkGrantable([{ secret: 'gh' }, { secret: 'anthropic', env: 'ANTHROPIC_API_KEY' }])).not.toThrow();
    expect(() => secrets.checkGrantable([{ secret: 'nope' }])).toThrow(SecretNotFoundError);
    expect(() => secrets.checkGrantable([{ secret: 'gh', env: '1X' }])).toThrow(InvalidSecretInputError);
    expect(() => secrets.checkGrantable([{ secret: 'gh' }, { secret: 'gh', env: 'OTHER' }])).toThrow(SecretConflictError);
    expect(() => secrets.checkGrantable([{ secret: 'gh', env: 'X' }, { secret: 'anthropic', env: 'X' }])).toThrow(SecretConflictError);
  });

  it('grants by sandbox name, answers the redirect\'s question, and forgets on revoke and removal', async () => {
    await expect(secrets.grant('nobody', { secret: 'gh' })).rejects.toThrow(NotFoundError);
    const g = await secrets.grant('box', { secret: 'gh', env: 'GITHUB_TOKEN' });
    expect(g).toMatchObject({ sandboxId: id, secretName: 'gh', env: 'GITHUB_TOKEN' });
    expect(JSON.stringify(g)).not.toContain('ghp_value');
    expect(refreshed).toContain(id);
    expect(secrets.wants(id, 'api.github.com')).toBe(true);
    expect(secrets.wants(id, 'api.anthropic.com')).toBe(false);
    await secrets.grant('box', { secret: 'anthropic' });
    expect(secrets.grants('box').map((x) => x.env)).toEqual(['ANTHROPIC', 'GITHUB_TOKEN']);
    await secrets.revoke('box', 'anthropic');
    expect(secrets.wants(id, 'api.anthropic.com')).toBe(false);
    refreshed.length = 0;
    await secrets.remove('gh');
    expect(refreshed).toEqual([id]);
    expect(secrets.grants('box')).toEqual([]);
    expect(secrets.wants(id, 'github.com')).toBe(false);
    await expect(secrets.remove('gh')).rejects.toThrow(SecretNotFoundError);
  });
});
