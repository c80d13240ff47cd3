import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CA_KEY_FILE, LeafCache, loadOrCreateCa, SandboxCa } from '../../daemon/net/secret-proxy/index.js';

describe('SandboxCa', () => {
  it('is a CA, survives a save and load, and mints leaves for one name that chain to it', async () => {
    const ca = await SandboxCa.load((await SandboxCa.create('abc123')).material());
    const caCert = new X509Certificate(ca.certPem);
    expect(caCert.ca).toBe(true);
    expect(caCert.subject).toContain('abc123');
    const leaf = await ca.mintLeaf('api.example.com');
    const leafCert = new X509Certificate(leaf.certPem);
    expect(leafCert.ca).toBe(false);
    expect(leafCert.verify(caCert.publicKey)).toBe(true);
    expect(leafCert.checkHost('api.example.com')).toBe('api.example.com');
    expect(leafCert.checkHost('evil.example.com')).toBeUndefined();
    expect(leafCert.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // serverAuth
    expect(ca.material().keyPem).toContain('PRIVATE KEY');
    expect(leaf.certPem).not.toContain('PRIVATE KEY');
  });

  it('the leaf cache is bounded and shares one mint per name', async () => {
    const ca = await SandboxCa.create('x');
    const cache = new LeafCache(ca, 3);
    const [a, b] = [cache.get('a.test'), cache.get('a.test')];
    expect(a).toBe(b);
    await a;
    for (const n of ['b.test', 'c.test', 'd.test']) await cache.get(n);
    expect(cache.size).toBe(3);
  });

  it('is saved with a 0600 key and loaded again unchanged', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hob-ca-'));
    try {
      const a = await loadOrCreateCa(join(dir, 'sbx'), 'sbx');
      expect((await stat(join(dir, 'sbx', CA_KEY_FILE))).mode & 0o777).toBe(0o600);
      const b = await loadOrCreateCa(join(dir, 'sbx'), 'sbx');
      expect(b.certPem).toBe(a.certPem);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
