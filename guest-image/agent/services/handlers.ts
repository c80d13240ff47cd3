/**
 * The `service.*` operations of the agent protocol, answered by the
 * supervisor installed with `installSupervisor` (none: ENOTSUP).
 */
import { StreamId, type Channel, type RequestOf, type ResultOf, type ServiceLogEntry } from '../../../daemon/protocol/index.js';
import { ENOTSUP, OpError } from '../errors.js';
import { signalNumber } from '../handlers/process-group.js';
import type { Supervisor } from './supervisor.js';

let current: Supervisor | undefined;

export function installSupervisor(supervisor: Supervisor): void {
  current = supervisor;
}

function supervisor(): Supervisor {
  if (!current) throw new OpError(ENOTSUP, 'services are not enabled in this agent');
  return current;
}

export async function serviceList(_req: RequestOf<'service.list'>): Promise<ResultOf<'service.list'>> {
  return { services: await supervisor().list() };
}

export async function serviceGet(req: RequestOf<'service.get'>): Promise<ResultOf<'service.get'>> {
  return supervisor().get(req.name);
}

export function servicePut(req: RequestOf<'service.put'>): Promise<ResultOf<'service.put'>> {
  return supervisor().put(req.name, req.definition, req.start);
}

export async function serviceDelete(req: RequestOf<'service.delete'>): Promise<ResultOf<'service.delete'>> {
  await supervisor().delete(req.name, req.timeoutMs);
  return {};
}

export function serviceStart(req: RequestOf<'service.start'>): Promise<ResultOf<'service.start'>> {
  return supervisor().start(req.name);
}

export function serviceStop(req: RequestOf<'service.stop'>): Promise<ResultOf<'service.stop'>> {
  return supervisor().stop(req.name, req.timeoutMs);
}

export async function serviceSignal(req: RequestOf<'service.signal'>): Promise<ResultOf<'service.signal'>> {
  const num = signalNumber(req.signal);
  if (num === undefined) throw new OpError('EINVAL', `unknown signal ${req.signal}`);
  await supervisor().signal(req.name, req.signal, num);
  return {};
}

/** Bytes a slow follower may have queued before further lines are dropped (and counted). */
const FOLLOW_BUFFER_BYTES = 1024 * 1024;

/** service.logs: see ServiceLogsRequestSchema. */
export async function handleServiceLogs(req: RequestOf<'service.logs'>, channel: Channel): Promise<void> {
  const serviceLog = await supervisor().logFor(req.name, req.allowMissing);
  if (channel.isClosed) return;
  channel.send({ type: 'ready', value: { logFile: serviceLog.path } });
  const out = channel.writable(StreamId.Stdout);
  out.on('error', () => undefined);
  let dropped = 0;
  const send = (entry: ServiceLogEntry): void => {
    if (channel.isClosed) return;
    if (out.writableLength > FOLLOW_BUFFER_BYTES) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      out.write(`${JSON.stringify({ time: Date.now(), stream: 'hob', event: 'error', data: `${dropped} lines not sent: the reader is too slow` } satisfies ServiceLogEntry)}\n`);
      dropped = 0;
    }
    out.write(`${JSON.stringify(entry)}\n`);
  };
  // Tail and subscription in one synchronous step: no entry is missed or sent twice.
  for (const entry of serviceLog.tail(req.lines)) send(entry);
  if (!req.follow) {
    out.end();
    await new Promise<void>((resolve) => {
      out.once('finish', resolve);
      out.once('close', resolve);
    });
    channel.close();
    return;
  }
  const unfollow = serviceLog.follow(send);
  await new Promise<void>((resolve) => channel.once('close', () => resolve()));
  unfollow();
}
