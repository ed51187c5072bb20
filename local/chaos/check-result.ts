/**
 * What every check of a chaos run gives: the checker's invariants and the self-healing checks alike.
 */

/** One verdict: what was observed against what is allowed, and the evidence when it fails. */
export interface CheckResult {
  name: string;
  ok: boolean;
  observed: number | string | null;
  limit: number | string | null;
  detail: string;
}
