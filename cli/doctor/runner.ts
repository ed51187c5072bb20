import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SluiceConfig } from '#lib/config.ts';
import { errorText, type Target } from '#ops/target.ts';
import {
  DOCTOR_CHECKS,
  type DoctorCheck,
  type DoctorCheckName,
  type DoctorReport,
  type Finding,
  named,
  type Outcome,
  problems,
  type Watch,
} from './check.ts';
import { alarmsCheck } from './checks/alarms.ts';
import { concurrencyCheck, concurrencyOutcome } from './checks/concurrency.ts';
import { eventSourcesCheck } from './checks/event-sources.ts';
import { outputsCheck } from './checks/outputs.ts';
import { permissionsCheck } from './checks/permissions.ts';
import { providerCheck } from './checks/provider.ts';
import { queuesCheck } from './checks/queues.ts';
import { secretCheck } from './checks/secret.ts';
import { tablesCheck } from './checks/tables.ts';
import { type DoctorContext, type DoctorOptions, doctorContext } from './context.ts';
import { isAccessDenied } from './errors.ts';

/**
 * Runs the checks against a target, at once, each within its own time limit, so one endpoint that does not answer
 * cannot hang the report: a check past its limit names the endpoints it was still waiting for.
 */

/** A check: what it finds on the target, every outbound request made through `watch`. */
type Check = (context: DoctorContext, watch: Watch) => Promise<Outcome>;

/** Each check by its name. */
const CHECKS: Readonly<Record<DoctorCheckName, Check>> = {
  outputs: outputsCheck,
  queues: queuesCheck,
  tables: tablesCheck,
  permissions: permissionsCheck,
  secret: secretCheck,
  provider: providerCheck,
  alarms: alarmsCheck,
  'event-sources': eventSourcesCheck,
  concurrency: concurrencyCheck,
};

/**
 * Runs every check against the target, concurrently, each within `options.timeoutMs`.
 * @example
 * const report = await runDoctorChecks(target, { timeoutMs: 10_000 });
 * if (!report.healthy) for (const check of report.checks) console.log(check.name, check.detail);
 */
export async function runDoctorChecks(target: Target, options: DoctorOptions): Promise<DoctorReport> {
  const context = doctorContext(target, options);
  try {
    const checks = await Promise.all(DOCTOR_CHECKS.map((name) => runCheck(context, name)));
    return { healthy: checks.every((check) => check.status !== 'problem'), checks };
  } finally {
    context.shared.abort();
  }
}

/** Runs one check within the time limit; past it, names the endpoints that had not answered. */
async function runCheck(context: DoctorContext, name: DoctorCheckName): Promise<DoctorCheck> {
  const controller = new AbortController();
  const pending = new Map<number, string>();
  let next = 0;
  const watch: Watch = async (endpoint, call) => {
    const id = next++;
    pending.set(id, endpoint);
    try {
      return await call(controller.signal);
    } finally {
      pending.delete(id);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      const endpoints = [...new Set(pending.values())];
      controller.abort();
      resolve(problems([timeoutFinding(context, endpoints)]));
    }, context.options.timeoutMs);
  });
  let outcome: Outcome;
  try {
    outcome = await Promise.race([CHECKS[name](context, watch), timedOut]);
  } catch (error) {
    outcome = problems([
      { problem: `the check failed: ${errorText(error)}`, fix: 'run it again; if it keeps failing, report it' },
    ]);
  } finally {
    clearTimeout(timer);
  }
  return named(name, outcome);
}

function timeoutFinding(context: DoctorContext, endpoints: readonly string[]): Finding {
  const seconds = context.options.timeoutMs / 1000;
  const which = endpoints.length === 0 ? 'the endpoints it called' : endpoints.join(', ');
  return {
    problem: `timed out after ${seconds} s waiting for ${which}`,
    fix: context.local
      ? `check that 'sluice dev' is running and responsive (it serves ${which}); restart it if it hangs`
      : `check that ${which} can be reached from here (network, proxy, VPC endpoint), or allow more time with --timeout`,
  };
}

/**
 * `sluice doctor --pre-deploy`: the concurrency check alone, against the account and region a first `cdk deploy`
 * would use, within `options.timeoutMs`.
 * @example const report = await runPreDeployChecks(new LambdaClient({ region: 'eu-west-1' }), { timeoutMs: 10_000 });
 */
export async function runPreDeployChecks(
  lambda: LambdaClient,
  options: { timeoutMs: number; config?: SluiceConfig | undefined; region?: string | undefined },
): Promise<DoctorReport> {
  const controller = new AbortController();
  const pending = new Set<string>();
  const watch: Watch = async (endpoint, call) => {
    pending.add(endpoint);
    try {
      return await call(controller.signal);
    } finally {
      pending.delete(endpoint);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      const which = pending.size === 0 ? 'the Lambda API' : [...pending].join(', ');
      resolve(
        problems([
          {
            problem: `timed out after ${options.timeoutMs / 1000} s waiting for ${which}`,
            fix: `check that ${which} can be reached from here (network, proxy, VPC endpoint), or allow more time with --timeout`,
          },
        ]),
      );
    }, options.timeoutMs);
  });
  const failed = (error: unknown): Finding =>
    isAccessDenied(error)
      ? {
          problem: `the operator's credentials may not call lambda:GetAccountSettings: ${errorText(error)}`,
          fix: 'grant lambda:GetAccountSettings to the IAM identity sluice runs as (docs/cli.md lists what the commands need)',
        }
      : {
          problem: `lambda:GetAccountSettings failed: ${errorText(error)}`,
          fix: 'check the credentials and the region (--region)',
        };
  try {
    const outcome = await Promise.race([
      concurrencyOutcome(lambda, options.config, [], options.region, watch, failed),
      timedOut,
    ]);
    const check = named('concurrency', outcome);
    return { healthy: check.status !== 'problem', checks: [check] };
  } finally {
    clearTimeout(timer);
  }
}
