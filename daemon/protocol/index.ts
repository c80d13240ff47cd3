/** The host <-> guest agent protocol, imported by both hobd and the guest agent. */
export * from './channel.js';
export * from './constants.js';
export * from './frame.js';
export * from './messages.js';
export * from './messages/exec.js';
export * from './messages/files.js';
export * from './messages/guest-api.js';
export * from './messages/handshake.js';
export * from './messages/keep-awake.js';
export * from './messages/lifecycle.js';
export * from './messages/ports.js';
export * from './messages/services.js';
export * from './messages/random.js';
export * from './messages/identity.js';
export * from './messages/boot.js';
export { GuestEpochMsSchema, MAX_GUEST_EPOCH_MS } from './messages/values.js';
export * from './mux.js';
export * from './messages/secrets.js';
