// @ts-check
/** The confirmation dialog of the actions that change the pipeline. */

import { errorBox } from './api.js';
import { h, requireElement } from './dom.js';

/** Counts the dialogs opened, so a late dry run does not fill a dialog opened after it. */
let dialogSession = 0;

/**
 * What the dry run found: the nodes to show, and whether there is anything to confirm.
 * @typedef {{ nodes: readonly (Node | null | undefined | false)[], actionable: boolean }} Preview
 */

/**
 * The modal confirmation: shows what `preview` finds (nothing is changed yet), and runs `run` only when the
 * operator confirms. Resolves with run's result, or undefined when cancelled.
 * @template T
 * @param {{ title: string, confirmLabel: string, preview: () => Promise<Preview>, run: () => Promise<T> }} action
 * @returns {Promise<T | undefined>}
 * @example const report = await confirmAction({ title: 'Redrive', confirmLabel: 'Redrive', preview, run });
 */
export function confirmAction({ title, confirmLabel, preview, run }) {
  const dialog = requireElement('confirm-dialog', HTMLDialogElement);
  dialogSession += 1;
  const session = dialogSession;
  /** The dialog still shows this action (not one opened after it was cancelled). */
  const current = () => session === dialogSession && dialog.open;
  const heading = requireElement('confirm-title');
  const body = requireElement('confirm-body');
  const confirm = requireElement('confirm-button', HTMLButtonElement);
  const cancel = requireElement('cancel-button', HTMLButtonElement);
  heading.textContent = title;
  body.replaceChildren(h('p', { class: 'muted', testid: 'preview-loading' }, 'Checking what would change (dry run)…'));
  confirm.textContent = confirmLabel;
  confirm.disabled = true;
  cancel.disabled = false;
  dialog.showModal();

  return new Promise((resolve) => {
    let running = false;
    /** @param {T | undefined} value */
    const finish = (value) => {
      confirm.removeEventListener('click', onConfirm);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onEscape);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onCancel = () => finish(undefined);
    /** @param {Event} event */
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
        body.replaceChildren(...nodes.filter((node) => node instanceof Node));
        confirm.disabled = !actionable;
      },
      /** @param {unknown} error */
      (error) => {
        if (current()) body.replaceChildren(errorBox(error, 'The dry run failed; nothing was changed.'));
      },
    );
  });
}
