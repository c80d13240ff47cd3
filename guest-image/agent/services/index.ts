/**
 * Supervised services inside the guest (docs/architecture.md §5): the supervisor,
 * the protocol handlers, and what main.ts needs to switch them on.
 */
import type { Op } from '../../../daemon/protocol/index.js';
import { installSupervisor } from './handlers.js';
import { servicePaths } from './paths.js';
import { Supervisor, type SupervisorOptions } from './supervisor.js';

export {
  handleServiceLogs,
  serviceDelete,
  serviceGet,
  serviceList,
  servicePut,
  serviceSignal,
  serviceStart,
  serviceStop,
} from './handlers.js';
export { Supervisor } from './supervisor.js';

/** Capability advertised by an agent that supervises services. */
export const FEATURE_SERVICES = 'services';

/** The operations of services (left out of the capabilities when services are off). */
export const SERVICE_OPS: ReadonlySet<Op> = new Set<Op>([
  'service.list',
  'service.get',
  'service.put',
  'service.delete',
  'service.start',
  'service.stop',
  'service.signal',
  'service.logs',
]);

/**
 * Creates the supervisor for files under `root` ("/" in the guest), installs it
 * for the handlers and boots it in the background (services start while the
 * agent already serves).
 */
export function startServices(root: string, options: SupervisorOptions = {}): Supervisor {
  const supervisor = new Supervisor(servicePaths(root), options);
  installSupervisor(supervisor);
  void supervisor.boot();
  return supervisor;
}
