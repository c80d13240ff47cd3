/**
 * The network side of secrets without a VM (docs/architecture.md §11): which resolved
 * addresses the redirect set holds and the proxy may dial. DNS answers are guest-driven
 * (the guest picks the names), so a name resolving into a blocked range must never become
 * a destination of the proxy, which dials from hobd's namespace where `blocked4` does not
 * apply. Also the guest side's files (agent handler secrets.ts) on a scratch root.
 */
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AddressBook } from '../../daemon/net/address-book.js';
import { compilePolicy } from '../../daemon/net/policy.js';
import { SandboxCa, SecretProxy } from '../../daemon/net/secret-proxy/index.js';
import { SecretRedirect } from '../../daemon/net/secret-redirect.js';
import { secretEnv, secretsConfigure, setSecretsRoot } from '../../guest-image/agent/handlers/secrets.js';
import { createBody } from '../../daemon/cli/commands/sandboxes.js';

const dns = (address: string) => ({ address, ttl: 60 });

describe('secret redirect', () => {
  const proxies: SecretProxy[] = [];
  afterAll(async () => {
    await Promise.all(proxies.map((p) => p.close()));
  });

  it('holds only addresses of wanted, allowed names outside the blocked ranges, and pins only those', async () => {
    const ca = await SandboxCa.create('sb1');
    let pinnedFn: ((name: string) => readonly string[]) | undefined;
    const book = new AddressBook();
    const redirect = await SecretRedirect.start('sb1', '127.0.0.1', '10.213.0.0/16', book, {
      port: 0,
      wants: (_id, name) => name === 'api.example.com' || name === 'lan.example.com' || name === 'denied.example.com',
      createProxy: async (id, pinned) => {
        pinnedFn = pinned;
        const p = new SecretProxy({ sandboxId: id, ca, secrets: () => [], pinnedAddresses: pinned, audit: () => undefined });
        proxies.push(p);
        return p;
      },
    });
    book.record('api.example.com', [dns('203.0.113.10'), dns('10.1.2.3')]);
    book.record('lan.example.com', [dns('192.168.1.1'), dns('127.0.0.1'), dns('10.213.0.1')]);
    book.record('denied.example.com', [dns('203.0.113.20')]);
    book.record('other.example.com', [dns('203.0.113.30')]);
    const policy = compilePolicy({ rules: [{ domain: 'denied.example.com', action: 'deny' }, { domain: '*', action: 'allow' }] });
    expect(redirect.addresses(book, policy).map((e) => e.address)).toEqual(['203.0.113.10']);
    expect(redirect.forAnswer('api.example.com', [dns('203.0.113.10'), dns('10.1.2.3')], book, policy).map((e) => e.address)).toEqual(['203.0.113.10']);
    expect(redirect.forAnswer('other.example.com', [dns('203.0.113.30')], book, policy)).toEqual([]);
    expect(pinnedFn?.('api.example.com')).toEqual(['203.0.113.10']);
    expect(pinnedFn?.('lan.example.com')).toEqual([]);
    // A wants() that throws (the database gone) means no interception, not a failed answer.
    const r2 = await SecretRedirect.start('sb2', '127.0.0.1', '10.213.0.0/16', book, {
      port: 0, wants: () => { throw new Error('boom'); },
      createProxy: async (id, pinned) => { const p = new SecretProxy({ sandboxId: id, ca, secrets: () => [], pinnedAddresses: pinned, audit: () => undefined }); proxies.push(p); return p; },
    });
    expect(r2.wants('api.example.com')).toBe(false);
  });
});

describe('guest side (agent secrets.configure)', () => {
  let root = '';
  afterAll(async () => {
    setSecretsRoot(undefined);
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('installs the CA once between markers, replaces it, and keeps the variables across an agent restart', async () => {
    root = await mkdtemp(join(tmpdir(), 'hob-guest-secrets-'));
    const bundle = join(root, 'etc/ssl/certs/ca-certificates.crt');
    await mkdir(join(root, 'etc/ssl/certs'), { recursive: true });
    await writeFile(bundle, '-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n');
    setSecretsRoot(root);
    const [a, b] = [await SandboxCa.create('a'), await SandboxCa.create('b')];
    await secretsConfigure({ op: 'secrets.configure', caPem: a.certPem, env: { TOKEN: 'hob-secret-x-abc' } });
    await secretsConfigure({ op: 'secrets.configure', caPem: b.certPem, env: { OTHER: 'hob-secret-x-def' } });
    const text = await readFile(bundle, 'utf8');
    expect(text.startsWith('-----BEGIN CERTIFICATE-----\nSYSTEM\n')).toBe(true);
    expect(text.split('hob secret proxy CA (begin)').length).toBe(2);
    expect(text).toContain(b.certPem.trim());
    expect(text).not.toContain(a.certPem.trim());
    expect(secretEnv()).toMatchObject({ OTHER: 'hob-secret-x-def', NODE_EXTRA_CA_CERTS: '/etc/hob/secret-proxy-ca.pem' });
    expect(secretEnv().TOKEN).toBeUndefined();
    // A restarted agent reads the file back; junk lines in it (guest content) are dropped.
    await writeFile(join(root, 'etc/hob/secrets.env'), `OTHER=hob-secret-x-def\nBAD LINE\nX=$(rm -rf /)\n${'Y'.repeat(70_000)}\n`);
    setSecretsRoot(root);
    expect(secretEnv()).toEqual({ OTHER: 'hob-secret-x-def' });
    await secretsConfigure({ op: 'secrets.configure', caPem: null, env: {} });
    expect(await readFile(bundle, 'utf8')).toBe('-----BEGIN CERTIFICATE-----\nSYSTEM\n-----END CERTIFICATE-----\n');
    expect(secretEnv()).toEqual({});
  });
});

describe('hob create --secret', () => {
  it('takes NAME or NAME=VAR and refuses anything else', async () => {
    expect((await createBody('s', { secret: ['tok', 'gh=GITHUB_TOKEN'] })).secrets).toEqual([{ secret: 'tok' }, { secret: 'gh', env: 'GITHUB_TOKEN' }]);
    await expect(createBody('s', { secret: ['tok=1X'] })).rejects.toThrow(/NAME=VAR/);
    await expect(createBody('s', { secret: ['=X'] })).rejects.toThrow(/NAME=VAR/);
  });
});
