// @ts-check
/** The confirmation dialog of the actions that change the pipeline. */

import { errorBox } from './api.js';
import { h, requireElement } from './dom.js';

/**
 * The modal confirmation: shows what `preview` finds (nothing is changed yet), and runs `run` only when the
 * operator confirms. Resolves with run's result, or undefined when cancelled.
 */
let dialogSession = 0;

export function confirmAction({ title, confirmLabel, preview, run }) {
  const dialog = requireElement('confirm-dialog');
  dialogSession += 1;
  const session = dialogSession;
  /** The dialog still shows this action (not one opened after it was cancelled). */
  const current = () => session === dialogSession && dialog.open;
  const heading = requireElement('confirm-title');
  const body = requireElement('confirm-body');
  const confirm = requireElement('confirm-button');
  const cancel = requireElement('cancel-button');
  heading.textContent = title;
  body.replaceChildren(h('p', { class: 'muted', testid: 'preview-loading' }, 'Checking what would change (dry run)…'));
  confirm.textContent = confirmLabel;
  confirm.disabled = true;
  cancel.disabled = false;
  dialog.showModal();

  return new Promise((resolve) => {
    let running = false;
    const finish = (value) => {
      confirm.removeEventListener('click', onConfirm);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onEscape);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onCancel = () => finish(undefined);
    const onEscape = (event) => {
      if (running) event.preventDefault();
      else finish(undefined);
    };
    const onConfirm = async () => {
      running = true;
      confirm.disabled = true;
      cancel.disabled = true;
      body.append(h('p', { class: 'muted', testid: 'confirm-running' }, 'Working…'));
      try {
        const result = await run();
        finish(result);
      } catch (error) {
        running = false;
        cancel.disabled = false;
        body.replaceChildren(
          errorBox(error, 'Nothing was confirmed as done; check the dead letters before trying again.'),
        );
      }
    };
    confirm.addEventListener('click', onConfirm);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onEscape);
    preview().then(
      ({ nodes, actionable }) => {
        if (!current()) return;
        body.replaceChildren(...nodes.filter(Boolean));
        confirm.disabled = !actionable;
      },
      (error) => {
        if (current()) body.replaceChildren(errorBox(error, 'The dry run failed; nothing was changed.'));
      },
    );
  });
}
