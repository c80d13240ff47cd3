import { mkdtemp, readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { closeDatabase, insertSandbox, openDatabase, type HobDb } from '../../daemon/db/index.js';
import {
  InvalidSecretInputError, PLACEHOLDER_RE, SecretCipher, SecretConflictError, SecretKeyError, SecretNotFoundError, SecretStore,
  MAX_SECRET_VALUE_BYTES,
} from '../../daemon/secrets/index.js';
import { SecretObject, SetSecretRequest } from '../../daemon/wire/secrets.js';

const VALUE = 'sk-ant-REAL-VALUE-0123456789abcdef';

describe('secret store', () => {
  let dir: string;
  let db: HobDb;
  let store: SecretStore;
  let sandboxId: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hob-secrets-'));
    db = openDatabase(join(dir, 'hob.db'));
    store = new SecretStore(db, SecretCipher.open(join(dir, 'secrets.key')));
    sandboxId = insertSandbox(db, { name: 'dev', state: 'running', image: 'dev', cpus: 1, memoryMiB: 512, diskBytes: 1 << 30, vmm: 'qemu' }).id;
  });
  afterEach(async () => {
    closeDatabase(db);
    await rm(dir, { recursive: true, force: true });
  });

  const count = (table: string) => (db.$client.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

  it('creates the key file 0600 and reuses it', async () => {
    const st = await stat(join(dir, 'secrets.key'));
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.size).toBe(32);
    store.set({ name: 'anthropic', hosts: ['api.anthropic.com'], value: VALUE });
    const again = new SecretStore(db, SecretCipher.open(join(dir, 'secrets.key')));
    expect(again.activeSecrets(sandboxId)).toEqual([]);
    again.grant(sandboxId, 'anthropic');
    expect(again.activeSecrets(sandboxId)[0]?.value).toBe(VALUE);
  });

  it('refuses a key file others can read, or of the wrong size', async () => {
    const key = join(dir, 'secrets.key');
    await chmod(key, 0o644);
    expect(() => SecretCipher.open(key)).toThrow(SecretKeyError);
    await writeFile(join(dir, 'short.key'), 'x', { mode: 0o600 });
    expect(() => SecretCipher.open(join(dir, 'short.key'))).toThrow(/32 bytes/);
  });

  it('stores the value encrypted: not in the database file in clear', async () => {
    store.set({ name: 'anthropic', hosts: ['api.anthropic.com', '*.Anthropic.com.'], value: VALUE });
    db.$client.pragma('wal_checkpoint(TRUNCATE)');
    const bytes = await readFile(join(dir, 'hob.db'));
    expect(bytes.includes(Buffer.from(VALUE))).toBe(false);
    expect(bytes.includes(Buffer.from('api.anthropic.com'))).toBe(true);
    expect(store.get('anthropic')).toMatchObject({ name: 'anthropic', hosts: ['api.anthropic.com', '*.anthropic.com'] });
    expect(JSON.stringify(store.list())).not.toContain(VALUE);
  });

  it('a sealed value does not open under another name', () => {
    const cipher = SecretCipher.open(join(dir, 'secrets.key'));
    const sealed = cipher.seal('a', VALUE);
    expect(cipher.open('a', sealed)).toBe(VALUE);
    expect(() => cipher.open('b', sealed)).toThrow(SecretKeyError);
  });

  it.each([
    [{ name: '1abc', hosts: ['a.example.com'], value: 'v' }, 'name'],
    [{ name: 'a b', hosts: ['a.example.com'], value: 'v' }, 'name'],
    [{ name: 'x'.repeat(65), hosts: ['a.example.com'], value: 'v' }, 'name'],
    [{ name: 'ok', hosts: ['*'], value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: [], value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: ['localhost'], value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: ['10.0.0.1'], value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: ['*.*.example.com'], value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: ['exa mple.com'], value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: 'a.example.com', value: 'v' }, 'hosts'],
    [{ name: 'ok', hosts: ['a.example.com'], value: '' }, 'value'],
    [{ name: 'ok', hosts: ['a.example.com'], value: 'x'.repeat(MAX_SECRET_VALUE_BYTES + 1) }, 'value'],
    [{ name: 'ok', hosts: ['a.example.com'], value: 'line\r\nX-Injected: 1' }, 'value'],
    [{ name: 'ok', hosts: ['a.example.com'], value: 42 }, 'value'],
  ])('rejects %j with a typed error and writes nothing', (input, field) => {
    let err: unknown;
    try { store.set(input); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(InvalidSecretInputError);
    expect((err as InvalidSecretInputError).field).toBe(field);
    expect((err as InvalidSecretInputError).code).toBe('bad_request');
    expect(String((err as Error).message)).not.toContain('X-Injected');
    expect(count('secrets')).toBe(0);
  });

  it('grants with a unique placeholder, refuses conflicts, bad variables and unknown names', () => {
    store.set({ name: 'gh-token', hosts: ['github.com'], value: 'ghp_x' });
    store.set({ name: 'other', hosts: ['*.example.com'], value: 'o' });
    const g = store.grant(sandboxId, 'gh-token');
    expect(g.env).toBe('GH_TOKEN');
    expect(g.placeholder).toMatch(new RegExp(`^hob-secret-${sandboxId}-[a-z2-7]{26}$`));
    expect([...g.placeholder.matchAll(PLACEHOLDER_RE)]).toHaveLength(1);
    expect(() => store.grant(sandboxId, 'gh-token')).toThrow(SecretConflictError);
    expect(() => store.grant(sandboxId, 'other', 'GH_TOKEN')).toThrow(SecretConflictError);
    expect(() => store.grant(sandboxId, 'other', '1BAD')).toThrow(InvalidSecretInputError);
    expect(() => store.grant(sandboxId, 'other', 'A=B')).toThrow(InvalidSecretInputError);
    expect(() => store.grant(sandboxId, 'nope')).toThrow(SecretNotFoundError);
    expect(() => store.grant('zzzzzzzzzz', 'other')).toThrow(SecretNotFoundError);
    expect(count('secret_grants')).toBe(1);
    const g2 = store.grant(sandboxId, 'other', 'OTHER_KEY');
    expect(g2.placeholder).not.toBe(g.placeholder);
    expect(store.grants(sandboxId).map((x) => x.env)).toEqual(['GH_TOKEN', 'OTHER_KEY']);
  });

  it('revoke and remove take effect on the next read; set keeps grants and placeholders', () => {
    store.set({ name: 'a', hosts: ['a.example.com'], value: 'one' });
    const g = store.grant(sandboxId, 'a');
    store.set({ name: 'a', hosts: ['a.example.com', 'b.example.com'], value: 'two' });
    expect(store.activeSecrets(sandboxId)).toEqual([{ secretName: 'a', hosts: ['a.example.com', 'b.example.com'], placeholder: g.placeholder, value: 'two' }]);
    store.revoke(sandboxId, 'a');
    expect(store.activeSecrets(sandboxId)).toEqual([]);
    expect(() => store.revoke(sandboxId, 'a')).toThrow(SecretNotFoundError);
    store.grant(sandboxId, 'a');
    store.remove('a');
    expect(store.activeSecrets(sandboxId)).toEqual([]);
    expect(count('secret_grants')).toBe(0);
    expect(() => store.remove('a')).toThrow(SecretNotFoundError);
  });

  it('wire shapes: requests validated, responses have no value field', () => {
    expect(SetSecretRequest.safeParse({ hosts: ['api.example.com'], value: 'v' }).success).toBe(true);
    expect(SetSecretRequest.safeParse({ hosts: ['*'], value: 'v' }).success).toBe(false);
    expect(SetSecretRequest.safeParse({ hosts: ['a.example.com'], value: 'v', extra: 1 }).success).toBe(false);
    expect(Object.keys(SecretObject.shape)).not.toContain('value');
  });
});
