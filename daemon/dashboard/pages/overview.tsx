/** @jsxImportSource hono/jsx */
/**
 * The host part of the overview on the sandbox list: host CPU and memory, the pool's used
 * and free space, the VMM driver hobd uses and why, and `hob doctor`'s warnings (from
 * `GET /v1/host`). Rendered with the list and in its fragment, so it follows the same
 * refreshes.
 */
import type { HostObject } from '../../wire/host.js';
import { formatBytes } from '../format.js';

function Meter(props: { label: string; used: number; total: number }) {
  const percent = props.total > 0 ? Math.round((props.used / props.total) * 100) : 0;
  return (
    <meter min={0} max={100} value={percent} high={80} optimum={0} aria-label={props.label}>
      {percent}%
    </meter>
  );
}

export function HostOverview(props: { host: HostObject | undefined; error?: string | undefined }) {
  const h = props.host;
  if (!h) {
    return (
      <section id="host-overview" class="host" aria-label="Host">
        <p class="size">Host figures are not available{props.error ? `: ${props.error}` : ''}.</p>
      </section>
    );
  }
  const memUsed = h.memory.total_bytes - h.memory.available_bytes;
  const problems = h.doctor.checks.filter((c) => c.status !== 'ok');
  return (
    <section id="host-overview" class="host" aria-label="Host">
      <dl class="host-facts">
        <div>
          <dt>Host CPU</dt>
          <dd>
            {h.cpu.busy_percent === null ? '–' : `${h.cpu.busy_percent.toFixed(0)}%`} of {h.cpu.count} CPUs · load {h.cpu.load.map((n) => n.toFixed(2)).join(' ')}
          </dd>
        </div>
        <div>
          <dt>Host memory</dt>
          <dd>
            <Meter label="host memory used" used={memUsed} total={h.memory.total_bytes} /> {formatBytes(memUsed)} used of {formatBytes(h.memory.total_bytes)}
          </dd>
        </div>
        <div>
          <dt>Pool</dt>
          <dd>
            <Meter label="pool used" used={h.pool.used_bytes} total={h.pool.size_bytes} /> {formatBytes(h.pool.used_bytes)} used, <strong id="pool-free">{formatBytes(h.pool.free_bytes)}</strong> free of{' '}
            {formatBytes(h.pool.size_bytes)}
          </dd>
        </div>
        <div>
          <dt>VMM</dt>
          <dd>
            <strong id="vmm-driver">{h.vmm.driver}</strong>
            {h.vmm.driver === 'qemu' && !h.vmm.kvm ? ' (TCG)' : ''}: <span class="reason">{h.vmm.reason}</span>
            {h.vmm.problems.length > 0 && <span class="error"> {h.vmm.problems.join('; ')}</span>}
          </dd>
        </div>
      </dl>
      {problems.length === 0 ? (
        <p class="doctor-ok">hob doctor: every check of this host passes.</p>
      ) : (
        <div class="doctor">
          <p>
            <strong>hob doctor</strong>: {problems.length} {problems.length === 1 ? 'warning' : 'warnings'}
            {problems.some((c) => c.status === 'fail') ? ', some of which block hob' : ''}
          </p>
          <ul id="doctor-warnings">
            {problems.map((c) => (
              <li data-check={c.name} class={`check-${c.status}`}>
                <strong>{c.status === 'fail' ? 'FAIL' : 'warn'}</strong> <code>{c.name}</code>: {c.detail}
                {c.fix !== undefined && <span class="fix"> Fix: {c.fix}</span>}
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}
