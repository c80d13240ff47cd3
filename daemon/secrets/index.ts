/** Secrets that never enter a sandbox: the store side (docs/architecture.md §11). The proxy is in daemon/net/secret-proxy/. */
export { SecretStore, defaultEnvName, type SecretInfo, type GrantInfo, type ActiveSecret } from './store.js';
export { SecretCipher, SecretKeyError } from './cipher.js';
export { InvalidSecretInputError, SecretNotFoundError, SecretConflictError } from './errors.js';
export { newPlaceholder, PLACEHOLDER_RE, PLACEHOLDER_PREFIX, MAX_PLACEHOLDER_LENGTH } from './placeholder.js';
export { secretNameSchema, envNameSchema, hostPatternSchema, hostPatternsSchema, secretValueSchema, hostMatches, MAX_SECRET_VALUE_BYTES, MAX_SECRET_HOSTS } from './validate.js';
