/**
 * secrets.configure (docs/architecture.md §11): the guest side of hob's secret
 * proxy. The host sends the sandbox's proxy CA and the variables that hold
 * placeholders (never a value); the agent
 * - installs the CA: in /usr/local/share/ca-certificates (so a later
 *   update-ca-certificates keeps it), spliced between markers into the system
 *   bundle (curl, git, OpenSSL read it; no update-ca-certificates run, which
 *   takes seconds under TCG), and as a file of its own for Node;
 * - adds the variables, and those that point Node, Python requests, curl, git
 *   and OpenSSL at the bundle, to the environment of every process it starts;
 * - writes them to /etc/hob/secrets.env (read back at the agent's next start,
 *   and sourced by login shells through /etc/profile.d/hob-secrets.sh).
 * Each configuration replaces the previous one (a fork replaces its parent's).
 * Only served in the guest (a root set by main.ts): under --listen it would
 * write into the host's trust store.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { RequestOf, ResultOf } from '../../../daemon/protocol/index.js';
import { SecretsConfigureRequestSchema } from '../../../daemon/protocol/index.js';
import { OpError } from '../errors.js';
import { log } from '../log.js';

export const SECRETS_CAPABILITY = 'secrets.configure';
const CA_FILE = 'etc/hob/secret-proxy-ca.pem';
const LOCAL_CA = 'usr/local/share/ca-certificates/hob-secret-proxy.crt';
const BUNDLE = 'etc/ssl/certs/ca-certificates.crt';
const ENV_FILE = 'etc/hob/secrets.env';
const PROFILE = 'etc/profile.d/hob-secrets.sh';
const BEGIN = '# hob secret proxy CA (begin)\n';
const END = '# hob secret proxy CA (end)\n';
/** Largest system bundle the agent rewrites (Debian's is ~200 KiB). */
const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;
/** Largest env file read back at start (64 variables of ~400 bytes fit). */
const MAX_ENV_FILE_BYTES = 64 * 1024;

let root: string | undefined;
let current: Readonly<Record<string, string>> = {};

/** Where the files go ("/" in the guest); undefined: the op is not served. Loads the last configuration. Set once by main.ts. */
export function setSecretsRoot(dir: string | undefined): void {
  root = dir;
  current = dir === undefined ? {} : readEnvFile(join(dir, ENV_FILE));
}

export function secretsServed(): boolean {
  return root !== undefined;
}

/** The variables every process the agent starts gets (placeholders and CA paths). */
export function secretEnv(): Readonly<Record<string, string>> {
  return current;
}

/** Reads NAME=value lines, keeping only those the request schema would accept (the file is guest content). */
function readEnvFile(path: string): Record<string, string> {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return {};
  }
  try {
    if (!fstatSync(fd).isFile()) return {};
    const buf = Buffer.alloc(MAX_ENV_FILE_BYTES);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const env: Record<string, string> = {};
    for (const line of buf.subarray(0, n).toString('utf8').split('\n')) {
      const m = /^([A-Za-z_][A-Za-z0-9_]{0,127})=([A-Za-z0-9._/:-]{1,256})$/.exec(line);
      if (m) env[m[1] as string] = m[2] as string;
    }
    return SecretsConfigureRequestSchema.shape.env.safeParse(env).success ? env : {};
  } catch (err) {
    log(`secrets: reading ${path}: ${String(err)}`);
    return {};
  } finally {
    closeSync(fd);
  }
}

async function writeAtomic(path: string, data: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.hob-tmp`;
  await writeFile(tmp, data, { mode });
  await rename(tmp, path);
}

/** The bundle without hob's block, then the new block (if any). */
async function spliceBundle(path: string, caPem: string | null): Promise<void> {
  let text = '';
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_BUNDLE_BYTES) throw new OpError('EFBIG', `${path} is larger than ${MAX_BUNDLE_BYTES} bytes`);
    text = buf.toString('utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const start = text.indexOf(BEGIN);
  const end = start >= 0 ? text.indexOf(END, start) : -1;
  if (start >= 0 && end >= 0) text = text.slice(0, start) + text.slice(end + END.length);
  if (caPem !== null) {
    if (text.length > 0 && !text.endsWith('\n')) text += '\n';
    text += `${BEGIN}${caPem.endsWith('\n') ? caPem : `${caPem}\n`}${END}`;
  }
  await writeAtomic(path, text, 0o644);
}

export async function secretsConfigure(req: RequestOf<'secrets.configure'>): Promise<ResultOf<'secrets.configure'>> {
  if (root === undefined) throw new OpError('ENOTSUP', 'secrets.configure is only served in a guest');
  const at = (p: string): string => join(root as string, p);
  const env: Record<string, string> = { ...req.env };
  if (req.caPem !== null) {
    await writeAtomic(at(CA_FILE), req.caPem, 0o644);
    await writeAtomic(at(LOCAL_CA), req.caPem, 0o644);
    const bundle = `/${BUNDLE}`;
    Object.assign(env, { NODE_EXTRA_CA_CERTS: `/${CA_FILE}`, REQUESTS_CA_BUNDLE: bundle, SSL_CERT_FILE: bundle, CURL_CA_BUNDLE: bundle, GIT_SSL_CAINFO: bundle });
  } else {
    await rm(at(CA_FILE), { force: true });
    await rm(at(LOCAL_CA), { force: true });
  }
  await spliceBundle(at(BUNDLE), req.caPem);
  const lines = Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join('');
  await writeAtomic(at(ENV_FILE), lines, 0o644);
  await writeAtomic(at(PROFILE), `# hob: placeholders of granted secrets and the secret proxy's CA (docs/architecture.md §11)\n[ -r /${ENV_FILE} ] && { set -a; . /${ENV_FILE}; set +a; }\n`, 0o644);
  current = env;
  return {};
}
