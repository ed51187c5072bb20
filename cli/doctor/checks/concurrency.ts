import type { LambdaClient } from '@aws-sdk/client-lambda';
import { type Finding, type Outcome, ok, problems, skipped, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { deniedAction } from '#cli/doctor/errors.ts';
import { endpointOf, failedFinding } from '#cli/doctor/findings.ts';
import { cdkJsonContext } from '#lib/cdk-json.ts';
import { loadConfig, type SluiceConfig } from '#lib/config.ts';
import { judgeReservedConcurrency, readAccountConcurrency, reservedConcurrencyPlan } from '#ops/concurrency-check.ts';

/**
 * The account has room for the reserved concurrency cdk.json asks for, the stack's own given back (AWS only).
 * @example const outcome = await concurrencyCheck(context, watch);
 */
export async function concurrencyCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target } = context;
  if (context.local) return skipped('no Lambda concurrency quota locally');
  const lambda = target.lambda;
  if (lambda === undefined) return skipped('no Lambda client for the target');
  const outputs = target.outputs;
  const functions = [outputs.ExtractFunctionName, outputs.DraftFunctionName, outputs.SupervisorFunctionName].filter(
    (name): name is string => !!name,
  );
  return concurrencyOutcome(lambda, context.options.config, functions, target.region, watch, (error) =>
    failedFinding(
      target,
      error,
      deniedAction(error) ?? 'lambda:GetAccountSettings',
      'the account',
      endpointOf(target, 'lambda'),
    ),
  );
}

/**
 * The concurrency check, for a deployed stack (its functions' reservations are given back by the deploy) or before
 * the first deploy (no functions).
 * @example const outcome = await concurrencyOutcome(lambda, undefined, [], 'eu-west-1', watch, failed);
 */
export async function concurrencyOutcome(
  lambda: LambdaClient,
  config: SluiceConfig | undefined,
  functionNames: readonly string[],
  region: string | undefined,
  watch: Watch,
  failed: (error: unknown) => Finding,
): Promise<Outcome> {
  const plan = reservedConcurrencyPlan(config ?? loadConfig(cdkJsonContext().sluice));
  let account: Awaited<ReturnType<typeof readAccountConcurrency>>;
  let where: string;
  try {
    where = region ?? (await lambda.config.region());
    account = await watch(`https://lambda.${where}.amazonaws.com`, (signal) =>
      readAccountConcurrency(lambda, functionNames, signal),
    );
  } catch (error) {
    return problems([failed(error)]);
  }
  const verdict = judgeReservedConcurrency(plan, account, where);
  return verdict.fits ? ok(verdict.detail) : problems([{ problem: verdict.problem, fix: verdict.fix }]);
}
