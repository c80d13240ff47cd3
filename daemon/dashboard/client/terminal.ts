/**
 * The web terminal: xterm.js over the exec websocket (TTY mode: binary
 * frames are terminal bytes, text frames JSON control messages). A new shell
 * is a detachable session; attaching to one replays its scrollback. The
 * window's size follows the element (fit addon) and is sent as `resize`.
 * Copy: select (xterm copies the selection on Ctrl+Shift+C or the browser's
 * copy); paste: the browser's paste, which xterm sends as input.
 * Tab belongs to the shell (completion), so F6 / Shift+F6 move the focus to
 * the next / previous control: the terminal is no keyboard trap.
 */
import { FitAddon } from '@xterm/addon-fit';
import { Terminal } from '@xterm/xterm';
import { csrf, sayError } from './common.js';

export interface WebTerminal {
  /** Opens a new shell session, or attaches to `sessionId`. */
  connect(sessionId?: string): void;
  readonly term: Terminal;
}

export function createTerminal(element: HTMLElement, sandbox: string, onSession: () => void): WebTerminal {
  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(element);
  fit.fit();
  const encoder = new TextEncoder();
  let ws: WebSocket | undefined;

  const sendResize = () => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
  };
  term.onData((data) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(encoder.encode(data));
  });
  term.onBinary((data) => {
    if (ws?.readyState === WebSocket.OPEN) ws.send(Uint8Array.from(data, (c) => c.charCodeAt(0)));
  });
  term.onResize(sendResize);
  new ResizeObserver(() => fit.fit()).observe(element);
  term.write('\x1b[2mNo shell yet: "New shell" starts one; "attach" below rejoins a running session.\x1b[0m');
  // Ctrl+Shift+C copies the selection (Ctrl+C stays the terminal's interrupt).
  term.attachCustomKeyEventHandler((e) => {
    if (e.key === 'F6') {
      if (e.type === 'keydown') {
        e.preventDefault();
        focusBeside(element, e.shiftKey ? -1 : 1);
      }
      return false;
    }
    if (e.type === 'keydown' && e.ctrlKey && e.shiftKey && e.code === 'KeyC' && term.hasSelection()) {
      void navigator.clipboard?.writeText(term.getSelection());
      return false;
    }
    return true;
  });

  const connect = (sessionId?: string) => {
    ws?.close();
    term.reset();
    const base = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/sandboxes/${encodeURIComponent(sandbox)}/exec`;
    const query = new URLSearchParams({ csrf });
    if (sessionId === undefined) {
      query.set('tty', 'true');
      query.set('cols', String(term.cols));
      query.set('rows', String(term.rows));
    }
    const socket = new WebSocket(`${sessionId === undefined ? base : `${base}/${encodeURIComponent(sessionId)}`}?${query}`);
    socket.binaryType = 'arraybuffer';
    ws = socket;
    socket.onopen = () => {
      sendResize();
      term.focus();
    };
    socket.onmessage = (event) => {
      if (typeof event.data === 'string') {
        const message = JSON.parse(event.data) as { type?: string; exit_code?: number };
        if (message.type === 'session_info') onSession();
        if (message.type === 'exit') term.write(`\r\n[exited with ${message.exit_code ?? '?'}]\r\n`);
        return;
      }
      term.write(new Uint8Array(event.data as ArrayBuffer));
    };
    socket.onerror = () => sayError(new Error('the terminal connection failed'));
    socket.onclose = () => {
      if (ws === socket) onSession();
    };
  };
  return { connect, term };
}

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** Focuses the first control after (`1`) or the last before (`-1`) `element`, outside it. */
function focusBeside(element: HTMLElement, direction: 1 | -1): void {
  const all = Array.from(document.querySelectorAll<HTMLElement>(FOCUSABLE)).filter((el) => !element.contains(el) && el.offsetParent !== null);
  const follows = (el: HTMLElement) => (element.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING) !== 0;
  const target = direction === 1 ? all.find(follows) : all.filter((el) => !follows(el)).at(-1);
  target?.focus();
}
