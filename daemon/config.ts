/**
 * hobd configuration: one YAML file (default `/etc/hob/config.yaml`), every
 * key optional, validated with zod. Unknown keys are rejected (a typo must not
 * silently fall back to a default). A few environment variables override the
 * file (see `ENV_OVERRIDES`), which is what tests and `hobd --state-dir`-style
 * launches use.
 *
 * Example (every value shown is the default):
 *
 * ```yaml
 * stateDir: /var/lib/hob
 * runDir: /run/hob
 * pool:
 *   # path: /srv/btrfs/hob       # use an existing btrfs directory instead
 *   imageSize: auto              # or "200GiB", "1T", or a number of bytes
 *   mountOptions: compress=zstd:1,discard=async
 * api:
 *   socketPath: /run/hob/hob.sock
 *   socketGroup: hob
 *   tcpHost: 127.0.0.1
 *   tcpPort: 7707
 * vmm:
 *   driver: auto
 *   # chBinary: /opt/ch/cloud-hypervisor   # default: /usr/local/lib/hob/cloud-hypervisor, else PATH
 *   qemuBinary: qemu-system-x86_64   # default depends on the host arch
 *   allowForeignArch: false          # true: boot other-arch images under qemu TCG (slow)
 * sandboxDefaults: { cpus: 2, memoryMiB: 2048, diskGiB: 100, image: dev }
 * idle: { pauseAfterSeconds: 30, hibernateAfterSeconds: 1800 }
 * templates: { enabled: true, memory: mapped, spares: true }   # warm templates: creates of the default shape resume instead of booting
 * network:
 *   enabled: true                 # false: sandboxes get no network device at all
 *   transitRange: 10.213.0.0/16   # one /30 per running sandbox (16384 here)
 *   resolverPort: 10053
 *   # upstreamDns: [1.1.1.1, "[2606:4700::1111]:53"]   # default: the host's /etc/resolv.conf
 *   netnsPrefix: hob-
 *   secretProxyPort: 10443
 * secrets:
 *   # upstreamCaFile: /etc/hob/upstream-ca.pem   # default: Node's bundled roots
 * ```
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, normalize } from 'node:path';
import { parseDocument } from 'yaml';
import * as z from 'zod';
import { BadRequestError } from './errors.js';
import { DEFAULT_TRANSIT_RANGE, netnsPrefixSchema, parseIpv4Cidr, TRANSIT_PREFIX } from './net/addresses.js';
import { parseServer } from './net/upstream.js';
import { parseSize } from './size.js';

/** Where hobd looks for its configuration when no path is given. */
export const DEFAULT_CONFIG_PATH = '/etc/hob/config.yaml';

/** The configuration file is missing keys it needs, has unknown keys, bad values, or is not YAML. */
export class ConfigError extends BadRequestError {}

const absolutePath = z
  .string()
  .min(1)
  .refine((p) => isAbsolute(p), 'must be an absolute path')
  .transform((p) => normalize(p));

export { parseSize } from './size.js';

/** The pool image must at least hold mkfs.btrfs's minimum plus some room (see storage/). */
export const MIN_POOL_IMAGE_BYTES = 256 * 1024 ** 2;

const poolSchema = z.strictObject({
  /**
   * An existing directory on a btrfs filesystem to use as the pool root.
   * Default: unset, meaning the embedded pool: `<stateDir>/pool` on the state
   * dir's own filesystem if that is btrfs, else a loop-mounted image file
   * `<stateDir>/pool.img`. Startup fails with a clear error when the path is
   * not on btrfs.
   */
  path: absolutePath.optional(),
  /**
   * Apparent size of the embedded pool's image file `<stateDir>/pool.img`
   * when hobd creates it (only then: an existing image is never resized). The
   * file is sparse, so it only takes the space the pool really uses.
   * `auto` (default) = 80 % of the free space of the state dir's filesystem at
   * creation time, at most 1 TiB, at least 256 MiB. Why 80 %: a sparse image
   * larger than the free space of its host filesystem lets btrfs believe in
   * space that is not there, and a loop device that cannot write turns the
   * pool read-only.
   */
  imageSize: z.union([z.number(), z.string()]).default('auto').transform((v, ctx): 'auto' | number => {
    if (v === 'auto') return v;
    const n = typeof v === 'number' ? v : parseSize(v);
    if (n === undefined || !Number.isSafeInteger(n)) {
      ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not 'auto' or a size (e.g. 200GiB, 512M, 1T, or bytes)` });
      return z.NEVER;
    }
    if (n < MIN_POOL_IMAGE_BYTES) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${MIN_POOL_IMAGE_BYTES} bytes (256MiB)` });
      return z.NEVER;
    }
    return n;
  }),
  /**
   * Mount options of the embedded pool (`mount -o loop,<these>`). Default
   * `compress=zstd:1,discard=async`: cheap compression, and discards that
   * punch holes in the image file so freed space returns to the host. Not
   * used when `path` is set (that filesystem is mounted by the user).
   */
  mountOptions: z.string().regex(/^[A-Za-z0-9_=:.,+-]+$/, 'must be a comma separated list of mount options')
    .default('compress=zstd:1,discard=async'),
});

const apiSchema = z.strictObject({
  /**
   * Unix socket of the API (no token needed: access is by file permission,
   * root and `socketGroup`). Default `<runDir>/hob.sock`, i.e. `/run/hob/hob.sock`.
   */
  socketPath: absolutePath.optional(),
  /** Group that owns the socket (mode 0660). Default `hob`. If the group does not exist, root only. */
  socketGroup: z.string().regex(/^[a-z_][a-z0-9_-]*\$?$/, 'must be a group name').max(32).default('hob'),
  /**
   * Address of the TCP listener (bearer tokens, dashboard). Default
   * `127.0.0.1`: loopback only. Binding anything else exposes the API to the network.
   */
  tcpHost: z.union([z.ipv4(), z.ipv6(), z.literal('localhost')]).default('127.0.0.1'),
  /** Port of the TCP listener. Default 7707. 0 disables the TCP listener. */
  tcpPort: z.number().int().min(0).max(65535).default(7707),
});

const vmmSchema = z.strictObject({
  /**
   * Which VMM runs the sandboxes. `auto` (default): cloud-hypervisor if
   * `/dev/kvm` is usable and the binary is found, else QEMU (which falls back
   * to TCG without KVM). Env override: `HOB_VMM`.
   */
  driver: z.enum(['auto', 'qemu', 'cloud-hypervisor']).default('auto'),
  /**
   * cloud-hypervisor binary: an absolute path, or a program name looked up on PATH. Default:
   * unset, meaning `/usr/local/lib/hob/cloud-hypervisor` (the release install.sh installs),
   * else `cloud-hypervisor` on PATH. When set and not found, hobd does not look elsewhere: with
   * `driver: auto` it uses qemu, with `driver: cloud-hypervisor` VMs fail to start, and
   * `hob doctor` names the setting. `$HOB_CH_BINARY` overrides it.
   */
  chBinary: z
    .string()
    .min(1)
    .refine((p) => isAbsolute(p) || !p.includes('/'), 'must be an absolute path or a program name looked up on PATH')
    .optional(),
  /** QEMU binary. Default `qemu-system-x86_64` or `qemu-system-aarch64` after the host architecture. */
  qemuBinary: z.string().min(1).optional(),
  /**
   * Boot images of the other CPU architecture (an arm64 image on x86_64 or the reverse) with
   * qemu under TCG emulation, tens of times slower than KVM (docs/architecture.md §4). Default
   * false: creating a sandbox from such an image is refused with a 400. For tests and
   * cross-architecture checks; cloud-hypervisor never runs them.
   */
  allowForeignArch: z.boolean().default(false),
});

const sandboxDefaultsSchema = z.strictObject({
  /** vCPUs of a new sandbox. Default 2. */
  cpus: z.number().int().min(1).max(256).default(2),
  /** Memory of a new sandbox in MiB. Default 2048. */
  memoryMiB: z.number().int().min(128).max(1024 * 1024).default(2048),
  /** Apparent size of a new sandbox's disk in GiB (sparse: costs only what is written). Default 100. */
  diskGiB: z.number().int().min(1).max(64 * 1024).default(100),
  /** Image a new sandbox is made from. Default `dev`. */
  image: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be an image name').default('dev'),
});

const idleSchema = z.strictObject({
  /** Seconds without activity after which a running sandbox is paused. Default 30. 0 = never. */
  pauseAfterSeconds: z.number().int().min(0).default(30),
  /** Seconds without activity after which a sandbox is hibernated (memory to disk). Default 1800. 0 = never. */
  hibernateAfterSeconds: z.number().int().min(0).default(1800),
});

const networkSchema = z.strictObject({
  /**
   * Whether sandboxes get a network (a namespace each, NAT to the internet, hob's resolver).
   * Needs root, nftables, tun and veth. `false`: VMs have no network device at all. A
   * sandbox hibernated or checkpointed with memory under one setting cannot resume its
   * memory under the other (it boots instead). Default true.
   */
  enabled: z.boolean().default(true),
  /**
   * IPv4 range carved into one /30 per running sandbox for the link between the host and
   * the sandbox's network namespace (host side .1, namespace side .2 of each /30). Must not
   * overlap a network the host uses; guests never see it (they always have 172.31.255.2/30,
   * gateway and DNS 172.31.255.1). Default `10.213.0.0/16` (16384 sandboxes).
   */
  transitRange: z.string().default(DEFAULT_TRANSIT_RANGE).superRefine((v, ctx) => {
    try {
      if (parseIpv4Cidr(v).prefix > TRANSIT_PREFIX) ctx.addIssue({ code: 'custom', message: `must be at least a /${TRANSIT_PREFIX}` });
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  }),
  /**
   * Port of hob's DNS resolver for guests on the host side of each transit link (UDP and
   * TCP). Guests ask 172.31.255.1:53; their namespace forwards that here. Default 10053.
   */
  resolverPort: z.number().int().min(1).max(65535).default(10053),
  /**
   * Port of each sandbox's secret proxy on the host side of its transit link (TCP): the
   * guest's HTTPS to hosts of its granted secrets is redirected there (docs/architecture.md §11).
   * Default 10443.
   */
  secretProxyPort: z.number().int().min(1).max(65535).default(10443),
  /**
   * DNS servers hob's resolver forwards allowed queries to: "addr" or "addr:port"
   * ("[v6]:port"). Default: the nameservers of the host's /etc/resolv.conf, read at start.
   */
  upstreamDns: z
    .array(z.string().refine((s) => parseServer(s) !== undefined, 'must be an IP address, optionally with :port'))
    .min(1)
    .optional(),
  /**
   * Prefix of the sandboxes' network namespace names (`<prefix><id>` under /run/netns).
   * Those names are visible machine-wide, and hobd removes namespaces with its prefix that
   * it does not know, so two hobds on one machine (a test harness next to the system one)
   * need different prefixes. Default `hob-`.
   */
  netnsPrefix: netnsPrefixSchema.default('hob-'),
});

const secretsSchema = z.strictObject({
  /**
   * PEM bundle of the CAs the secret proxy verifies real hosts against (docs/architecture.md §11).
   * Default: unset, Node's bundled roots.
   */
  upstreamCaFile: absolutePath.optional(),
});

const templatesSchema = z.strictObject({
  /**
   * Warm templates (docs/architecture.md §17): after an image is imported (and at start-up),
   * boot a VM of the `sandboxDefaults` shape once and keep its disk and memory, so that
   * creates of that shape resume a copy instead of booting. Default true. false: every
   * create boots (no template VM is ever started; existing templates stay until removed).
   */
  enabled: z.boolean().default(true),
  /**
   * How a template keeps its memory (docs/architecture.md §26). `mapped` (default): in a file
   * that a create maps, so the guest runs before its memory is read (QEMU; other drivers
   * fall back to `stream`). `stream`: in a migration stream read whole before the guest runs.
   */
  memory: z.enum(['mapped', 'stream']).default('mapped'),
  /**
   * Keep one spare sandbox per current template (docs/architecture.md §31): resumed from it
   * ahead of any create and paused, so that the next create of its shape only continues it.
   * Default true. It holds the memory the guest dirtied since its template's snapshot (the
   * rest is the template's file, shared) and a network slot. false: creates resume the template.
   */
  spares: z.boolean().default(true),
});

/** Schema of the configuration file. Every key is optional. */
export const configFileSchema = z.strictObject({
  /** Persistent state: database `hob.db`, the embedded pool. Default `/var/lib/hob`. Env: `HOB_STATE_DIR`. */
  stateDir: absolutePath.default('/var/lib/hob'),
  /** Volatile state: sockets, pid files, per-VM run dirs. Default `/run/hob`. Env: `HOB_RUN_DIR`. */
  runDir: absolutePath.default('/run/hob'),
  pool: poolSchema.prefault({}),
  api: apiSchema.prefault({}),
  vmm: vmmSchema.prefault({}),
  sandboxDefaults: sandboxDefaultsSchema.prefault({}),
  idle: idleSchema.prefault({}),
  network: networkSchema.prefault({}),
  secrets: secretsSchema.prefault({}),
  templates: templatesSchema.prefault({}),
});

type FileConfig = z.output<typeof configFileSchema>;

/** The validated configuration with every default and derived path filled in. */
export interface HobConfig {
  readonly stateDir: string;
  readonly runDir: string;
  /** SQLite database, always `<stateDir>/hob.db`. */
  readonly dbPath: string;
  readonly pool: {
    /** Existing btrfs directory, or undefined for the embedded pool. */
    readonly path: string | undefined;
    readonly imageSize: 'auto' | number;
    readonly mountOptions: string;
  };
  readonly api: {
    readonly socketPath: string;
    readonly socketGroup: string;
    readonly tcpHost: string;
    readonly tcpPort: number;
  };
  readonly vmm: {
    readonly driver: 'auto' | 'qemu' | 'cloud-hypervisor';
    /** undefined: the default search (see vmmSchema.chBinary). */
    readonly chBinary: string | undefined;
    readonly qemuBinary: string;
    /** Run foreign-architecture images under qemu's TCG (see vmmSchema.allowForeignArch). */
    readonly allowForeignArch: boolean;
  };
  readonly sandboxDefaults: FileConfig['sandboxDefaults'];
  readonly idle: FileConfig['idle'];
  /** Sandbox networking (see networkSchema); upstreamDns undefined = the host's resolv.conf. */
  readonly network: FileConfig['network'];
  /** Secrets (see secretsSchema): the key file is `<stateDir>/secrets.key`. */
  readonly secrets: FileConfig['secrets'] & { readonly keyPath: string };
  /** Warm templates (see templatesSchema). */
  readonly templates: FileConfig['templates'];
  /** The file this was loaded from, or undefined when none existed and only defaults apply. */
  readonly source: string | undefined;
}

/** Environment variables that override the file, and the key each one sets. */
export const ENV_OVERRIDES = {
  HOB_STATE_DIR: 'stateDir',
  HOB_RUN_DIR: 'runDir',
  HOB_VMM: 'vmm.driver',
} as const;

export interface LoadConfigOptions {
  /**
   * Configuration file. Default: `$HOB_CONFIG`, else `/etc/hob/config.yaml`.
   * A missing file is fine only for the default path (then defaults apply);
   * a path given explicitly must exist.
   */
  path?: string;
  /** Environment to read overrides from. Default `process.env`. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads, validates and resolves the configuration.
 * @throws ConfigError naming the file and the offending key for: an unreadable
 *   file, invalid YAML, duplicate or unknown keys, a wrong value.
 */
export async function loadConfig(options: LoadConfigOptions = {}): Promise<HobConfig> {
  const env = options.env ?? process.env;
  const explicit = options.path ?? env.HOB_CONFIG;
  const path = explicit ?? DEFAULT_CONFIG_PATH;
  let text: string | undefined;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!(code === 'ENOENT' && explicit === undefined)) {
      throw new ConfigError(`config ${path}: cannot read: ${(err as Error).message}`);
    }
  }
  return parseConfig(text ?? '', { source: text === undefined ? undefined : path, env });
}

/**
 * Validates configuration YAML text (empty text = all defaults) and applies env overrides.
 * `source` names the file in error messages.
 * @throws ConfigError as `loadConfig`.
 */
export function parseConfig(
  yamlText: string,
  opts: { source?: string | undefined; env?: Readonly<Record<string, string | undefined>> } = {},
): HobConfig {
  const where = `config ${opts.source ?? '(defaults)'}`;
  const doc = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(`${where}: invalid YAML: ${doc.errors.map((e) => e.message.split('\n')[0]).join('; ')}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(`${where}: must be a mapping of settings, got ${Array.isArray(raw) ? 'a list' : typeof raw}`);
  }
  const env = opts.env ?? process.env;
  const withEnv = applyEnv(raw as Record<string, unknown>, env);
  const result = configFileSchema.safeParse(withEnv);
  if (!result.success) {
    throw new ConfigError(`${where}: ${result.error.issues.map((i) => describeIssue(i, env)).join('; ')}`);
  }
  return resolve(result.data, opts.source);
}

function applyEnv(raw: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const [head, tail] = key.split('.') as [string, string | undefined];
    if (tail === undefined) {
      out[head] = value;
    } else {
      const inner = out[head];
      out[head] = { ...(typeof inner === 'object' && inner !== null ? inner : {}), [tail]: value };
    }
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, env: Readonly<Record<string, string | undefined>>): string {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys') {
    return issue.keys
      .map((k) => `unknown key '${at ? `${at}.` : ''}${k}'`)
      .join('; ');
  }
  const fromEnv = Object.entries(ENV_OVERRIDES).find(([name, key]) => key === at && env[name]);
  return `${at || '(top level)'}${fromEnv ? ` (from ${fromEnv[0]})` : ''}: ${issue.message}`;
}

function resolve(c: FileConfig, source: string | undefined): HobConfig {
  const arch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  return {
    stateDir: c.stateDir,
    runDir: c.runDir,
    dbPath: join(c.stateDir, 'hob.db'),
    pool: { path: c.pool.path, imageSize: c.pool.imageSize, mountOptions: c.pool.mountOptions },
    api: {
      socketPath: c.api.socketPath ?? join(c.runDir, 'hob.sock'),
      socketGroup: c.api.socketGroup,
      tcpHost: c.api.tcpHost,
      tcpPort: c.api.tcpPort,
    },
    vmm: {
      driver: c.vmm.driver,
      chBinary: c.vmm.chBinary,
      qemuBinary: c.vmm.qemuBinary ?? `qemu-system-${arch}`,
      allowForeignArch: c.vmm.allowForeignArch,
    },
    sandboxDefaults: c.sandboxDefaults,
    idle: c.idle,
    network: c.network,
    secrets: { ...c.secrets, keyPath: join(c.stateDir, 'secrets.key') },
    templates: c.templates,
    source,
  };
}
