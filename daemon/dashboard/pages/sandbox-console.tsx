/** @jsxImportSource hono/jsx */
/**
 * The sandbox page's serial console log: the tail of what the VM printed on its console
 * (the boot, kernel messages, a panic), also after a stop. Loaded by the client after the
 * page (fragment `/fragments/sandboxes/<name>/console-log`) and on "Refresh"; the text is
 * the guest's, shown through consoleDisplayText.
 */
import type { ConsoleLogObject } from '../../wire/console-log.js';
import { consoleDisplayText, dropPartialFirstLine } from '../console-text.js';
import { formatBytes } from '../format.js';

export function ConsoleLogView(props: { log: ConsoleLogObject }) {
  const { log } = props;
  const cut = log.available_bytes > log.bytes;
  const text = consoleDisplayText(dropPartialFirstLine(log.text, cut));
  return (
    <div id="console-log">
      <p class="size">
        {!log.exists
          ? 'No console output: the sandbox has not booted since the host started.'
          : cut
            ? `The last ${formatBytes(log.bytes)} of ${formatBytes(log.available_bytes)} kept.`
            : `${formatBytes(log.bytes)} of console output.`}
      </p>
      {log.exists && (
        <pre class="console-log" tabindex={0} aria-label={`Serial console of ${log.name}`}>
          {text}
        </pre>
      )}
    </div>
  );
}

export function ConsoleLogSection(props: { name: string }) {
  return (
    <section aria-labelledby="console-title">
      <h2 id="console-title">Serial console log</h2>
      <div class="toolbar">
        <button type="button" id="console-refresh">
          Refresh
        </button>{' '}
        <a href={`/v1/sandboxes/${encodeURIComponent(props.name)}/console-log?tail=1048576`} download={`${props.name}-console.log`}>
          Download (raw, up to 1 MiB)
        </a>
      </div>
      <div id="console-log">
        <p class="size">Loading...</p>
      </div>
    </section>
  );
}
