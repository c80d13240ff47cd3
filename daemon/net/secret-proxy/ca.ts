/**
 * The per-sandbox certificate authority of the secret proxy (docs/architecture.md §11).
 * An ECDSA P-256 CA whose private key stays in hob (export it only to hob's own
 * state dir); its certificate is what the guest's trust stores get. Leaf
 * certificates are minted per TLS server name under one leaf key per CA, and
 * only for names of a granted secret's hosts (the proxy checks before asking).
 *
 * X.509 comes from @peculiar/x509 on Node's webcrypto: a maintained, typed
 * library with ECDSA support (node-forge only signs RSA in pure JavaScript,
 * too slow for minting on demand). It needs the reflect-metadata polyfill
 * loaded first, which is the first import here.
 */
import 'reflect-metadata';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
type KeyUsage = webcrypto.KeyUsage;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** The CA is valid for ten years: the guest trusts it as long as the sandbox lives. */
const CA_DAYS = 3650;
/** Leaves are valid for 30 days (and one day back, for guest clocks that lag); the cache remints long before. */
const LEAF_DAYS = 30;

/** A CA as stored by hob: certificate and PKCS#8 key, PEM. */
export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** A minted leaf: certificate PEM (leaf first, then the CA) and the leaf key PEM. */
export interface LeafMaterial {
  certPem: string;
  keyPem: string;
  notAfter: Date;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return b.toString('hex');
}

async function exportKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

async function importKeyPem(pem: string, usages: KeyUsage[]): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error('no PEM block in the CA key');
  return webcrypto.subtle.importKey('pkcs8', der, ALG, true, usages) as Promise<CryptoKey>;
}

export class SandboxCa {
  private leafKeys: Promise<{ pair: CryptoKeyPair; pem: string }> | undefined;

  private constructor(
    private readonly cert: x509.X509Certificate,
    private readonly key: CryptoKey,
    private readonly keyPem: string,
  ) {}

  /** A new CA for sandbox `sandboxId` (the id goes into its name, for the guest's trust store listings). */
  static async create(sandboxId: string, now = new Date()): Promise<SandboxCa> {
    const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: serial(),
      name: `CN=hob secret proxy CA ${sandboxId}, O=hob`,
      notBefore: new Date(now.getTime() - DAY_MS),
      notAfter: new Date(now.getTime() + CA_DAYS * DAY_MS),
      keys,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new SandboxCa(cert, keys.privateKey, await exportKeyPem(keys.privateKey));
  }

  /** A CA saved with `material()`. */
  static async load(m: CaMaterial): Promise<SandboxCa> {
    const cert = new x509.X509Certificate(m.certPem);
    return new SandboxCa(cert, await importKeyPem(m.keyPem, ['sign']), m.keyPem);
  }

  /** The CA certificate, PEM: what the guest's trust stores get. */
  get certPem(): string {
    return this.cert.toString('pem');
  }

  /** Certificate and private key, for hob's state dir (0600) only. */
  material(): CaMaterial {
    return { certPem: this.certPem, keyPem: this.keyPem };
  }

  /** Mints a leaf certificate for `serverName` (a DNS name, already validated by the caller). */
  async mintLeaf(serverName: string, now = new Date()): Promise<LeafMaterial> {
    this.leafKeys ??= (webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>)
      .then(async (pair) => ({ pair, pem: await exportKeyPem(pair.privateKey) }));
    const { pair: leafKeys, pem: leafKeyPem } = await this.leafKeys;
    const notAfter = new Date(now.getTime() + LEAF_DAYS * DAY_MS);
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${serverName}`,
      issuer: this.cert.subject,
      notBefore: new Date(now.getTime() - DAY_MS),
      notAfter,
      publicKey: leafKeys.publicKey,
      signingKey: this.key,
      signingAlgorithm: ALG,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: serverName }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.cert),
      ],
    });
    return { certPem: `${leaf.toString('pem')}\n${this.certPem}\n`, keyPem: leafKeyPem, notAfter };
  }
}
