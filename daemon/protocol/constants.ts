/**
 * Addresses both ends of the agent channel agree on. The VMM drivers use them to
 * wire the device, the guest agent to find it.
 */

/**
 * vsock port the agent listens on inside the guest (cloud-hypervisor, vhost-vsock).
 * The host reaches it through CH's unix socket with `CONNECT 1024\n`.
 */
export const AGENT_VSOCK_PORT = 1024;

/**
 * Name of the virtio-serial port carrying the agent protocol (QEMU:
 * `-device virtserialport,name=org.hob.agent,...`). The guest finds its device
 * node through /sys/class/virtio-ports/vport*\/name.
 */
export const AGENT_VIRTIO_PORT_NAME = 'org.hob.agent';
