/** What the supervisor can do to a stage at a look. */
export type SupervisorActionKind =
  | 'paused'
  | 'resumed'
  | 'resume verified'
  | 'resume unverified'
  | 'concurrency up'
  | 'concurrency down';

/** One thing the supervisor did to a stage, and why. */
export interface SupervisorAction {
  kind: SupervisorActionKind;
  detail: string;
}

/**
 * One line for a log or a report.
 * @example describeAction({ kind: 'paused', detail: 'gpt-4o-mini unavailable since …' }) // 'paused: gpt-4o-mini unavailable since …'
 */
export function describeAction(action: SupervisorAction): string {
  return `${action.kind}: ${action.detail}`;
}
