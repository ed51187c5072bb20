/**
 * What a doctor check is and what it reports: each check is a function of the shared context and a `Watch` that
 * returns an `Outcome`; the runner names it and turns it into a `DoctorCheck` of the report.
 */

/** The checks, in the order they are reported. */
export const DOCTOR_CHECKS = [
  'outputs',
  'queues',
  'tables',
  'permissions',
  'secret',
  'provider',
  'alarms',
  'event-sources',
  'concurrency',
] as const;
export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number];

export type CheckStatus = 'ok' | 'problem' | 'skipped';

/** One thing wrong, and what to do about it. */
export interface Finding {
  problem: string;
  fix: string;
}

/** One check as `--json` prints it: `detail` and `fix` join the check's problems when it has several. */
export interface DoctorCheck {
  name: DoctorCheckName;
  status: CheckStatus;
  detail: string;
  fix?: string | undefined;
  /** Each problem with its own fix (status `problem` only). */
  problems?: Finding[] | undefined;
  /** What else to know: e.g. the commands to run by hand for a skipped check. */
  notes?: string[] | undefined;
}

export interface DoctorReport {
  healthy: boolean;
  checks: DoctorCheck[];
}

/** What a check found, before it is given its name. */
export type Outcome =
  | { status: 'ok'; detail: string; notes?: string[] }
  | { status: 'skipped'; detail: string; notes?: string[] }
  | { status: 'problem'; problems: Finding[]; notes?: string[] };

/**
 * Runs `call` as one of the check's outbound requests to `endpoint`, with the check's abort signal.
 * @example const { Table } = await watch(endpoint, (abortSignal) => dynamo.send(command, { abortSignal }));
 */
export type Watch = <T>(endpoint: string, call: (signal: AbortSignal) => Promise<T>) => Promise<T>;

/**
 * The check passed.
 * @example return ok(`${count} alarms exist, none in ALARM`);
 */
export const ok = (detail: string, notes?: string[]): Outcome => ({ status: 'ok', detail, ...(notes && { notes }) });

/**
 * The check does not apply to this target.
 * @example if (context.local) return skipped('CloudWatch does not run locally');
 */
export const skipped = (detail: string, notes?: string[]): Outcome => ({
  status: 'skipped',
  detail,
  ...(notes && { notes }),
});

/**
 * The check found these problems.
 * @example if (found.length > 0) return problems(found);
 */
export const problems = (found: Finding[]): Outcome => ({ status: 'problem', problems: found });

/**
 * The check as the report holds it: a problem outcome's findings joined into its `detail` and `fix`.
 * @example const check = named('concurrency', outcome);
 */
export function named(name: DoctorCheckName, outcome: Outcome): DoctorCheck {
  const notes = outcome.notes !== undefined && outcome.notes.length > 0 ? { notes: outcome.notes } : {};
  if (outcome.status !== 'problem') return { name, status: outcome.status, detail: outcome.detail, ...notes };
  return {
    name,
    status: 'problem',
    detail: outcome.problems.map((finding) => finding.problem).join('; '),
    fix: [...new Set(outcome.problems.map((finding) => finding.fix))].join('; '),
    problems: outcome.problems,
    ...notes,
  };
}
