import { type EvaluationResult, IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { type Finding, type Outcome, ok, problems, skipped, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { endpointOf, failedFinding, redeployFix } from '#cli/doctor/findings.ts';
import { functionFindings } from '#cli/doctor/stage-functions.ts';
import { laneOf, type Target } from '#ops/target.ts';
import { nextStageOf, PUBLISHED_LANE } from '#shared/pipeline.ts';
import type { Stage } from '#shared/runtime-config.ts';

/**
 * Each stage function's role may do what its stage needs, as IAM simulates its identity policies (AWS only).
 * @example const outcome = await permissionsCheck(context, watch);
 */
export async function permissionsCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target, options } = context;
  if (context.local) return skipped('no IAM locally: the emulators do not check permissions');
  const functions = await watch(endpointOf(target, 'lambda'), () => context.stageFunctions());
  const unread = functionFindings(target, functions).filter((finding) => /may not call/.test(finding.problem));
  if (unread.length > 0) return problems(unread);
  const own = options.iam === undefined;
  const iam = options.iam ?? new IAMClient(target.region === undefined ? {} : { region: target.region });
  const endpoint = endpointOf(target, 'iam');
  try {
    const found: Finding[] = [];
    let simulated = 0;
    for (const { stage, configuration } of functions) {
      const role = configuration?.Role;
      if (role === undefined) continue;
      for (const need of stageNeeds(target, stage)) {
        let results: EvaluationResult[];
        try {
          results = await watch(endpoint, (abortSignal) =>
            simulate(iam, role, need.actions, need.resources, abortSignal),
          );
        } catch (error) {
          found.push(failedFinding(target, error, 'iam:SimulatePrincipalPolicy', role, endpoint));
          continue;
        }
        simulated += results.length;
        for (const result of results) {
          if (result.EvalDecision === 'allowed') continue;
          found.push({
            problem: `the ${stage} function's role ${role} may not ${result.EvalActionName} on ${result.EvalResourceName} (${result.EvalDecision})`,
            fix: `${redeployFix(target)} (its grants give the ${stage} stage ${need.why})`,
          });
        }
      }
    }
    if (found.length > 0) return problems(found);
    return ok(`each stage function's role may do what its stage needs (${simulated} action-resource pairs simulated)`);
  } finally {
    if (own) iam.destroy();
  }
}

/** What a stage's role needs, on which resources, and why. */
function stageNeeds(target: Target, stage: Stage): { actions: string[]; resources: string[]; why: string }[] {
  const lane = laneOf(target, stage);
  const next = laneOf(target, nextStageOf(target.pipeline, stage)?.name ?? PUBLISHED_LANE);
  const queueArn = lane.queue.arn ?? '';
  const [, partition = 'aws', , region = '', account = ''] = queueArn.split(':');
  const tableArn = `arn:${partition}:dynamodb:${region}:${account}:table/${target.stateTableName}`;
  const defined = (values: (string | undefined)[]) => values.filter((value): value is string => !!value);
  return [
    {
      actions: ['sqs:SendMessage'],
      resources: defined([next.queue.arn, lane.deadLetterQueue.arn, lane.queue.arn]),
      why: 'sending to its next queue, its DLQ and its own queue (waits)',
    },
    {
      actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
      resources: [tableArn],
      why: 'reading and writing the state table',
    },
    {
      actions: ['secretsmanager:GetSecretValue'],
      resources: defined([target.outputs.ApiKeySecretArn]),
      why: 'reading the API key secret',
    },
  ].filter((need) => need.resources.length > 0);
}

/** IAM's verdict on each action on each resource for the role's identity policies. */
async function simulate(
  iam: IAMClient,
  role: string,
  actions: string[],
  resources: string[],
  abortSignal: AbortSignal,
): Promise<EvaluationResult[]> {
  const results: EvaluationResult[] = [];
  let marker: string | undefined;
  do {
    const page = await iam.send(
      new SimulatePrincipalPolicyCommand({
        PolicySourceArn: role,
        ActionNames: actions,
        ResourceArns: resources,
        ...(marker === undefined ? {} : { Marker: marker }),
      }),
      { abortSignal },
    );
    // One result per action; per resource in ResourceSpecificResults when several resources were asked about.
    for (const result of page.EvaluationResults ?? []) {
      const specific = result.ResourceSpecificResults ?? [];
      if (specific.length === 0) results.push(result);
      for (const each of specific) {
        results.push({
          EvalActionName: result.EvalActionName,
          EvalResourceName: each.EvalResourceName,
          EvalDecision: each.EvalResourceDecision,
        });
      }
    }
    marker = page.IsTruncated ? page.Marker : undefined;
  } while (marker !== undefined);
  return results;
}
