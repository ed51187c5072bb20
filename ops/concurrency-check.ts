import { GetAccountSettingsCommand, GetFunctionConcurrencyCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { SluiceConfig } from '#lib/config.ts';

/**
 * Whether the account has room for the reserved concurrency the stack asks for. Lambda keeps 10 of an account's
 * concurrent executions unreserved in each region: a deploy that would reserve more than the quota less those 10
 * (less what other functions reserve) fails in CloudFormation with "Specified ReservedConcurrentExecutions for
 * function decreases account's UnreservedConcurrentExecution below its minimum value of [10]". New accounts start
 * with a quota of 10, so there the stack can reserve nothing; this check says so before `cdk deploy` does.
 */

/** Concurrent executions Lambda keeps unreserved in every account and region. */
const MINIMUM_UNRESERVED_CONCURRENCY = 10;

/** What the stack reserves, function by function, as `cdk.json`'s config would deploy it. */
export interface ReservedConcurrencyPlan {
  /** e.g. `[['extract', 5], ['draft', 3], ['supervisor', 1]]`; empty with `reservedConcurrencyEnabled: false`. */
  readonly functions: readonly (readonly [name: string, reserved: number])[];
  readonly total: number;
}

/**
 * The reserved concurrency of each function the config deploys: the stages' `reservedConcurrency` and the
 * supervisor's 1, or none with `reservedConcurrencyEnabled: false`.
 * @example reservedConcurrencyPlan(loadConfig({})).total; // 9
 */
export function reservedConcurrencyPlan(config: SluiceConfig): ReservedConcurrencyPlan {
  if (!config.reservedConcurrencyEnabled) return { functions: [], total: 0 };
  const functions: [string, number][] = [
    ...Object.entries(config.stages).map(([stage, settings]): [string, number] => [
      stage,
      settings.reservedConcurrency,
    ]),
    ...(config.supervisor.enabled ? [['supervisor', 1] as [string, number]] : []),
  ];
  return { functions, total: functions.reduce((sum, [, reserved]) => sum + reserved, 0) };
}

/** The account's concurrency in the region, and what the stack's own functions reserve now (0 before a deploy). */
export interface AccountConcurrency {
  /** `AccountLimit.ConcurrentExecutions`: the quota. */
  readonly limit: number;
  /** `AccountLimit.UnreservedConcurrentExecutions`: the quota less every function's reservation. */
  readonly unreserved: number;
  /** What the stack's functions reserve now, which a deploy gives back before it reserves again. */
  readonly reservedByStack: number;
}

/** What the check found: fits, or does not with the fix. */
export type ConcurrencyVerdict = { fits: true; detail: string } | { fits: false; problem: string; fix: string };

/**
 * Reads the account's concurrency (`lambda:GetAccountSettings`) and what the named functions reserve now
 * (`lambda:GetFunctionConcurrency`; a function that does not exist reserves nothing).
 * @example const account = await readAccountConcurrency(lambda, ['Sluice-Extract', 'Sluice-Draft'], signal);
 */
export async function readAccountConcurrency(
  lambda: LambdaClient,
  functionNames: readonly string[],
  abortSignal: AbortSignal,
): Promise<AccountConcurrency> {
  const { AccountLimit } = await lambda.send(new GetAccountSettingsCommand({}), { abortSignal });
  const limit = AccountLimit?.ConcurrentExecutions;
  const unreserved = AccountLimit?.UnreservedConcurrentExecutions;
  if (limit === undefined || unreserved === undefined) {
    throw new Error('lambda:GetAccountSettings answered without AccountLimit.ConcurrentExecutions');
  }
  const reserved = await Promise.all(
    functionNames.map(async (FunctionName) => {
      try {
        const answer = await lambda.send(new GetFunctionConcurrencyCommand({ FunctionName }), { abortSignal });
        return answer.ReservedConcurrentExecutions ?? 0;
      } catch (error) {
        if (error instanceof Error && error.name === 'ResourceNotFoundException') return 0;
        throw error;
      }
    }),
  );
  return { limit, unreserved, reservedByStack: reserved.reduce((sum, value) => sum + value, 0) };
}

/**
 * Whether a deploy of `plan` leaves at least {@link MINIMUM_UNRESERVED_CONCURRENCY} unreserved.
 * @example judgeReservedConcurrency(reservedConcurrencyPlan(config), { limit: 10, unreserved: 10, reservedByStack: 0 }, 'us-east-1');
 */
export function judgeReservedConcurrency(
  plan: ReservedConcurrencyPlan,
  account: AccountConcurrency,
  region: string,
): ConcurrencyVerdict {
  // What others reserve stays reserved; the stack's own reservations are replaced by the plan's.
  const reservable = account.unreserved + account.reservedByStack - MINIMUM_UNRESERVED_CONCURRENCY;
  const asked =
    plan.total === 0
      ? 'reserves no concurrency (reservedConcurrencyEnabled is false)'
      : `reserves ${plan.total} concurrent executions (${plan.functions.map(([name, reserved]) => `${name} ${reserved}`).join(', ')})`;
  const account_ = `the account's quota in ${region} is ${account.limit}, ${account.unreserved} unreserved`;
  if (plan.total <= reservable) {
    return {
      fits: true,
      detail: `the stack ${asked}; ${account_}, so ${Math.max(0, reservable - plan.total) + MINIMUM_UNRESERVED_CONCURRENCY} stay unreserved after a deploy (at least ${MINIMUM_UNRESERVED_CONCURRENCY})`,
    };
  }
  const room = Math.max(0, reservable);
  const forStages = room - (plan.functions.some(([name]) => name === 'supervisor') ? 1 : 0);
  return {
    fits: false,
    problem:
      `the stack ${asked}, but ${account_} and Lambda keeps ${MINIMUM_UNRESERVED_CONCURRENCY} unreserved: ` +
      `at most ${room} can be reserved, so 'cdk deploy' fails with "UnreservedConcurrentExecution below its minimum value of [${MINIMUM_UNRESERVED_CONCURRENCY}]"`,
    fix:
      'set "reservedConcurrencyEnabled": false in the sluice context of cdk.json (the event sources\' maximum ' +
      'concurrency alone then bounds concurrent LLM calls: see README, Deploying to AWS)' +
      (forStages >= 4
        ? `, or lower ${plan.functions.flatMap(([name]) => (name === 'supervisor' ? [] : [`stages.${name}`])).join(' and ')} reservedConcurrency (and maxConcurrency) to ${forStages} together (each at least 2)`
        : '') +
      `, or ask AWS for a higher Lambda concurrent executions quota in ${region} (Service Quotas)`,
  };
}
