/**
 * Confirmations and the one question the dashboard asks (a fork's name) as a
 * modal `<dialog>`, not `window.confirm`/`prompt`: the browser's own dialogs
 * cannot say which button is the safe one, nor be styled or tested. Every
 * action behind a confirmation loses state, so focus starts on Cancel (Enter
 * right after a click cancels); Escape cancels (the dialog's own `cancel`);
 * focus goes back to the button that opened it (docs/architecture.md §22).
 */

interface Ask {
  /** The question, also the dialog's accessible name. */
  readonly question: string;
  /** The confirm button's text: a verb ("Remove"). */
  readonly action: string;
  /** Ask for a line of text too, with this label; the dialog then starts on the field. */
  readonly field?: { readonly label: string; readonly pattern?: string };
}

let open: HTMLDialogElement | undefined;

function show(ask: Ask): Promise<string | undefined> {
  open?.close();
  const opener = document.activeElement instanceof HTMLElement ? document.activeElement : undefined;
  const dialog = document.createElement('dialog');
  dialog.id = 'confirm-dialog';
  dialog.setAttribute('aria-labelledby', 'confirm-question');
  const form = document.createElement('form');
  form.method = 'dialog';
  const question = document.createElement('p');
  question.id = 'confirm-question';
  question.textContent = ask.question;
  form.append(question);
  let input: HTMLInputElement | undefined;
  if (ask.field) {
    const label = document.createElement('label');
    label.append(ask.field.label, ' ');
    input = document.createElement('input');
    input.name = 'value';
    input.required = true;
    input.autocomplete = 'off';
    if (ask.field.pattern) input.pattern = ask.field.pattern;
    label.append(input);
    form.append(label);
  }
  const buttons = document.createElement('div');
  buttons.className = 'dialog-buttons';
  // Cancel is not a submit button: Enter in the field submits with the action, never cancels.
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.textContent = 'Cancel';
  cancel.addEventListener('click', () => dialog.close(''));
  const confirm = document.createElement('button');
  confirm.type = 'submit';
  confirm.value = 'ok';
  confirm.className = ask.field ? 'primary' : 'danger';
  confirm.textContent = ask.action;
  buttons.append(cancel, confirm);
  form.append(buttons);
  dialog.append(form);
  document.body.append(dialog);
  open = dialog;
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      const value = dialog.returnValue === 'ok' ? (input?.value.trim() ?? '') : undefined;
      dialog.remove();
      if (open === dialog) open = undefined;
      if (opener?.isConnected) opener.focus();
      resolve(value);
    });
    dialog.showModal();
    (input ?? cancel).focus();
  });
}

/** Asks before an action that loses state; resolves whether the user confirmed. */
export async function confirmAction(question: string, action: string): Promise<boolean> {
  return (await show({ question, action })) !== undefined;
}

/** Asks for a line of text; resolves with it, or undefined when cancelled. */
export async function askText(question: string, label: string, action: string, pattern?: string): Promise<string | undefined> {
  const value = await show({ question, action, field: { label, ...(pattern ? { pattern } : {}) } });
  return value === '' ? undefined : value;
}
