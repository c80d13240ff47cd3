/** The host <-> guest agent protocol, imported by both hobd and the guest agent. */
export * from './channel.js';
export * from './constants.js';
export * from './frame.js';
export * from './messages.js';
export * from './mux.js';
