/** Emitted by a transport stream when the host went away without the stream ending (virtio-serial). */
export const HANGUP_EVENT = 'hangup';
