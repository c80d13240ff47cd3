/**
 * Per-sandbox egress policy, in the shape of the Sprites API
 * (`GET/POST /v1/sprites/{name}/policy/network`):
 *
 * ```json
 * {"rules": [{"include": "defaults"},
 *            {"domain": "example.com", "action": "allow"},
 *            {"domain": "*.example.com", "action": "allow"},
 *            {"domain": "*", "action": "deny"}]}
 * ```
 *
 * Semantics (enforced by hob's resolver and the sandbox's nftables allow set):
 * - `{"rules": []}` (the default) means unrestricted: no DNS filtering, no address filtering.
 *   The default isolation (host, other sandboxes, private ranges) applies regardless.
 * - Otherwise the rules are evaluated in order and the first one matching the queried name
 *   decides; a name no rule matches is denied. Denied names get REFUSED from the resolver;
 *   the guest may only open new connections to addresses that the resolver returned for
 *   allowed names (raw-IP dials elsewhere are rejected).
 * - `domain` is an exact name (`github.com`, which does not match `api.github.com`), a
 *   wildcard `*.github.com` (any name below github.com, not github.com itself), or `*`
 *   (every name). Case-insensitive; a trailing dot is ignored.
 * - `{"include": "defaults"}` is replaced in place by `DEFAULT_ALLOW_DOMAINS`, as allow rules.
 */
import * as z from 'zod';
import { BadRequestError } from '../errors.js';

/** Where the guest can read its current policy (read-only, like Sprites' SpriteFS file). */
export const POLICY_GUEST_PATH = '/.sprite/policy/network.json';

/** At most this many rules per policy. */
export const MAX_POLICY_RULES = 1000;

/**
 * What `{"include": "defaults"}` allows: package registries, source hosting and the
 * APIs of coding agents, so that an agent sandbox can install dependencies and talk to
 * its model but nothing else.
 */
export const DEFAULT_ALLOW_DOMAINS: readonly string[] = [
  // GitHub
  'github.com', '*.github.com', 'githubusercontent.com', '*.githubusercontent.com', 'ghcr.io', '*.ghcr.io',
  'codeload.github.com', 'objects.githubusercontent.com',
  // GitLab
  'gitlab.com', '*.gitlab.com',
  // npm, yarn, Node.js
  'registry.npmjs.org', 'npmjs.org', '*.npmjs.org', 'registry.yarnpkg.com', 'nodejs.org', '*.nodejs.org',
  // Python
  'pypi.org', '*.pypi.org', 'files.pythonhosted.org', 'pythonhosted.org',
  // Debian and Ubuntu archives
  'deb.debian.org', 'security.debian.org', '*.debian.org', 'archive.ubuntu.com', 'security.ubuntu.com', '*.ubuntu.com',
  // Rust
  'crates.io', '*.crates.io', 'static.rust-lang.org', '*.rust-lang.org',
  // Go
  'proxy.golang.org', 'sum.golang.org', 'go.dev', '*.go.dev', 'storage.googleapis.com',
  // Ruby
  'rubygems.org', '*.rubygems.org',
  // Containers
  'docker.io', '*.docker.io', 'registry-1.docker.io', 'production.cloudflare.docker.com', 'quay.io', '*.quay.io',
  // Coding agents' model APIs
  'anthropic.com', '*.anthropic.com', 'claude.ai', '*.claude.ai', 'openai.com', '*.openai.com',
  'generativelanguage.googleapis.com',
];

const LABEL = '[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?';
const NAME_RE = new RegExp(`^${LABEL}(\\.${LABEL})*$`);

/** Lowercases and strips one trailing dot. */
export function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Whether `pattern` ("*", "*.example.com", "example.com") is a valid domain pattern (normalized). */
function validPattern(p: string): boolean {
  if (p === '*') return true;
  const name = p.startsWith('*.') ? p.slice(2) : p;
  return name.length > 0 && name.length <= 253 && NAME_RE.test(name);
}

/** `{domain, action}`: allow or deny a name or a wildcard. */
export const DomainRuleSchema = z.strictObject({
  /** `*`, `*.example.com` (subdomains only) or `example.com` (exactly). */
  domain: z
    .string()
    .max(256)
    .transform(normalizeName)
    .refine(validPattern, 'must be "*", "*.example.com" or a domain name such as "example.com"'),
  action: z.enum(['allow', 'deny']),
});

/** `{"include": "defaults"}`: the default allow list, in place. */
export const IncludeRuleSchema = z.strictObject({
  include: z.literal('defaults'),
});

export const PolicyRuleSchema = z.union([DomainRuleSchema, IncludeRuleSchema]);

/** The body of `POST .../policy/network` and the answer of `GET`. */
export const NetworkPolicySchema = z.strictObject({
  rules: z.array(PolicyRuleSchema).max(MAX_POLICY_RULES),
});

export type DomainRule = z.output<typeof DomainRuleSchema>;
export type PolicyRule = z.output<typeof PolicyRuleSchema>;
export type NetworkPolicy = z.output<typeof NetworkPolicySchema>;

/**
 * Validates a policy from outside (API body, database).
 * @throws BadRequestError naming the offending rule.
 */
export function parsePolicy(value: unknown): NetworkPolicy {
  const r = NetworkPolicySchema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.flatMap((i) => {
    // A rule matching neither shape: explain it as the shape its keys suggest.
    const rules = typeof value === 'object' && value !== null ? (value as { rules?: unknown }).rules : undefined;
    const rule = i.code === 'invalid_union' && i.path.length === 2 && Array.isArray(rules) ? rules[Number(i.path[1])] : undefined;
    if (rule !== undefined) {
      const schema = typeof rule === 'object' && rule !== null && 'include' in rule ? IncludeRuleSchema : DomainRuleSchema;
      const sub = schema.safeParse(rule);
      if (!sub.success) return sub.error.issues.map((s) => ({ ...s, path: [...i.path, ...s.path] }));
    }
    return [i];
  }).map((i) => `${i.path.map(String).join('.') || '(policy)'}: ${i.message}`);
  throw new BadRequestError(`invalid network policy: ${issues.join('; ')}`);
}

/** The unrestricted policy. */
export const UNRESTRICTED_POLICY: NetworkPolicy = { rules: [] };

/** Whether `pattern` (normalized) matches `name` (normalized). */
export function matchDomain(pattern: string, name: string): boolean {
  if (pattern === '*') return true;
  if (pattern.startsWith('*.')) return name.endsWith(pattern.slice(1)) && name.length > pattern.length - 1;
  return pattern === name;
}

/** A policy ready to evaluate. */
export interface CompiledPolicy {
  /** False for the empty (unrestricted) policy: nothing is filtered. */
  readonly restricted: boolean;
  /** The decision for a queried name (any case, trailing dot allowed). Always 'allow' when unrestricted. */
  decide(name: string): 'allow' | 'deny';
}

/** Expands includes and returns the domain rules in evaluation order. */
export function expandRules(rules: readonly PolicyRule[]): DomainRule[] {
  const out: DomainRule[] = [];
  for (const r of rules) {
    if ('include' in r) {
      for (const domain of DEFAULT_ALLOW_DOMAINS) out.push({ domain, action: 'allow' });
    } else {
      out.push(r);
    }
  }
  return out;
}

/** Compiles a validated policy (see the module comment for the semantics). */
export function compilePolicy(policy: NetworkPolicy): CompiledPolicy {
  const rules = expandRules(policy.rules);
  if (policy.rules.length === 0) return { restricted: false, decide: () => 'allow' };
  return {
    restricted: true,
    decide(name: string) {
      const n = normalizeName(name);
      for (const r of rules) if (matchDomain(r.domain, n)) return r.action;
      return 'deny';
    },
  };
}

/** The content of POLICY_GUEST_PATH for a policy: the same JSON the API returns, newline-terminated. */
export function renderPolicyFile(policy: NetworkPolicy): string {
  return `${JSON.stringify(policy, null, 2)}\n`;
}
