/**
 * A sandbox CA kept on the host (docs/architecture.md §11): `secret-ca.pem`
 * (the certificate, 0644: it goes into the guest anyway) and `secret-ca.key`
 * (0600) in a folder of hob's state dir. Written to a temporary name and
 * renamed, key first, so a crash never leaves a certificate without its key.
 * The folder must not be inside anything copied into a guest.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SandboxCa } from './ca.js';

export const CA_CERT_FILE = 'secret-ca.pem';
export const CA_KEY_FILE = 'secret-ca.key';

/** Loads the CA saved in `dir`, or creates one for `sandboxId` and saves it. */
export async function loadOrCreateCa(dir: string, sandboxId: string): Promise<SandboxCa> {
  // Loaded on first use: @peculiar/x509 is some 230 files, and most hobd runs never make a certificate.
  const { SandboxCa } = await import('./ca.js');
  try {
    const [certPem, keyPem] = await Promise.all([readFile(join(dir, CA_CERT_FILE), 'utf8'), readFile(join(dir, CA_KEY_FILE), 'utf8')]);
    return await SandboxCa.load({ certPem, keyPem });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const ca = await SandboxCa.create(sandboxId);
  const m = ca.material();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, `${CA_KEY_FILE}.tmp`), m.keyPem, { mode: 0o600 });
  await rename(join(dir, `${CA_KEY_FILE}.tmp`), join(dir, CA_KEY_FILE));
  await writeFile(join(dir, `${CA_CERT_FILE}.tmp`), m.certPem, { mode: 0o644 });
  await rename(join(dir, `${CA_CERT_FILE}.tmp`), join(dir, CA_CERT_FILE));
  return ca;
}
