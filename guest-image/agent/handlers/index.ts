/** The table of operations: one handler per op, each answering on its channel. */
import type { Channel, Op, RequestOf, ResultOf, UnaryOp } from '../../../daemon/protocol/index.js';
import { handleExec } from './exec.js';
import { fsFreeze, fsThaw } from './freeze.js';
import { fsChmod, fsList, fsMkdir, fsRemove, fsRename, fsStat } from './fs-ops.js';
import { handleFsRead } from './fs-read.js';
import { handleFsWrite } from './fs-write.js';
import { handlePortsWatch } from './ports.js';
import { reseedRandom } from './random.js';
import { identitySet } from './identity.js';
import { bootTimeline } from '../boot-phases.js';
import { ping, setClock, shutdown, sync } from './system.js';
import { handleTunnel } from './tunnel.js';
import { secretsConfigure } from './secrets.js';
import { handleKeepAwakeWatch } from '../keep-awake/holds.js';
import { handleGuestApiServe } from './guest-api.js';
import { handleServiceLogs, serviceDelete, serviceGet, serviceList, servicePut, serviceSignal, serviceStart, serviceStop } from '../services/index.js';

/** A handler owns its channel: it answers, streams, and closes it. Throwing sends `error` (errno code) and closes. */
export type Handler<O extends Op> = (request: RequestOf<O>, channel: Channel) => Promise<void>;

/** Wraps a request -> result function: sends `result` and closes. */
function unary<O extends Op & UnaryOp>(fn: (request: RequestOf<O>) => Promise<ResultOf<O>>): Handler<O> {
  return async (request, channel) => {
    const value = await fn(request);
    channel.send({ type: 'result', value });
    channel.close();
  };
}

export const handlers: { readonly [O in Op]: Handler<O> } = {
  exec: handleExec,
  'fs.read': handleFsRead,
  'fs.write': handleFsWrite,
  'fs.stat': unary(fsStat),
  'fs.list': unary(fsList),
  'fs.mkdir': unary(fsMkdir),
  'fs.rename': unary(fsRename),
  'fs.remove': unary(fsRemove),
  'fs.chmod': unary(fsChmod),
  tunnel: handleTunnel,
  sync: unary(sync),
  'fs.freeze': unary(fsFreeze),
  'fs.thaw': unary(fsThaw),
  'ports.watch': handlePortsWatch,
  'clock.set': unary(setClock),
  ping: unary(ping),
  shutdown,
  'keep-awake.watch': handleKeepAwakeWatch,
  'service.list': unary(serviceList),
  'service.get': unary(serviceGet),
  'service.put': unary(servicePut),
  'service.delete': unary(serviceDelete),
  'service.start': unary(serviceStart),
  'service.stop': unary(serviceStop),
  'service.signal': unary(serviceSignal),
  'service.logs': handleServiceLogs,
  'secrets.configure': unary(secretsConfigure),
  'guest-api.serve': handleGuestApiServe,
  'random.reseed': unary(reseedRandom),
  'boot.timeline': unary(bootTimeline),
  'identity.set': unary(identitySet),
};

/** Every op this build knows. */
export const KNOWN_OPS: ReadonlySet<Op> = new Set(Object.keys(handlers) as Op[]);
