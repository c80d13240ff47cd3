/**
 * Must be the first import of main.ts: libuv reads UV_THREADPOOL_SIZE once, when
 * its thread pool is first used. The agent parks blocking reads (and, while the
 * host is away, blocking writes) of the virtio-serial device on pool threads,
 * and file writes to a frozen filesystem block their threads until the thaw; with
 * libuv's default of 4 threads those could starve the very read that carries
 * the thaw request.
 */
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = '32';
export {};
