/**
 * Secrets (capability "secrets.configure", docs/architecture.md §11): what the
 * guest needs so that programs use hob's secret proxy without knowing it. The
 * host sends, after every connection to the agent of a started or resumed VM
 * and whenever a grant changes, the whole configuration (it replaces the
 * previous one): the certificate of the sandbox's proxy CA, which the agent
 * installs in the guest's trust stores, and the variables holding placeholders,
 * which the agent adds to the environment of every process it starts (execs,
 * consoles, sessions, services) and writes to /etc/hob/secrets.env. Never a
 * secret's value: the guest only ever holds placeholders.
 */
import * as z from 'zod';

/** Most variables per sandbox (each one a grant). */
export const MAX_SECRET_ENV_VARS = 64;
/** Longest CA certificate (PEM) the agent accepts. */
export const MAX_SECRET_CA_PEM = 16 * 1024;

export const SecretsConfigureRequestSchema = z.object({
  op: z.literal('secrets.configure'),
  /** The proxy CA's certificate (PEM), or null to remove it. */
  caPem: z.string().max(MAX_SECRET_CA_PEM).regex(/^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$/).nullable(),
  /** Variable -> placeholder. Names and values are restricted to characters a shell line carries unquoted. */
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/), z.string().regex(/^[A-Za-z0-9._\/:-]{1,256}$/))
    .refine((e) => Object.keys(e).length <= MAX_SECRET_ENV_VARS, `at most ${MAX_SECRET_ENV_VARS} variables`),
});
export type SecretsConfigureRequest = z.infer<typeof SecretsConfigureRequestSchema>;
