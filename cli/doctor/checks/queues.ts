import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { type Finding, type Outcome, ok, problems, type Watch } from '#cli/doctor/check.ts';
import type { DoctorContext } from '#cli/doctor/context.ts';
import { isMissingQueue } from '#cli/doctor/errors.ts';
import { endpointOf, failedFinding } from '#cli/doctor/findings.ts';
import { parseRedrivePolicy } from '#cli/doctor/parse.ts';
import { type LaneName, laneOf, type QueueRef, type Target } from '#ops/target.ts';

/**
 * Every queue exists, each working queue redrives to its DLQ, and no DLQ holds messages.
 * @example const outcome = await queuesCheck(context, watch);
 */
export async function queuesCheck(context: DoctorContext, watch: Watch): Promise<Outcome> {
  const { target, local } = context;
  const endpoint = endpointOf(target, 'sqs');
  const read = async (queue: QueueRef) => {
    try {
      const { Attributes = {} } = await watch(endpoint, (abortSignal) =>
        target.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['All'] }), {
          abortSignal,
        }),
      );
      return { queue, attributes: Attributes as Record<string, string> };
    } catch (error) {
      return { queue, error };
    }
  };
  const lanes = target.pipeline.lanes.map((name) => laneOf(target, name));
  const results = await Promise.all(
    lanes.map(async (lane) => {
      const [queue, dlq] = await Promise.all([read(lane.queue), read(lane.deadLetterQueue)]);
      return { lane: lane.name, queue, dlq };
    }),
  );
  const found: Finding[] = [];
  let dlqMessages = 0;
  for (const { lane, queue, dlq } of results) {
    for (const side of [queue, dlq]) {
      if (side.error === undefined) continue;
      found.push(
        isMissingQueue(side.error)
          ? {
              problem: `the ${queueName(side.queue)} ${side.queue.url} does not exist`,
              fix: missingQueueFix(target),
            }
          : failedFinding(target, side.error, 'sqs:GetQueueAttributes', side.queue.arn ?? side.queue.url, endpoint),
      );
    }
    if (queue.attributes !== undefined) {
      const dlqArn = dlq.attributes?.QueueArn ?? dlq.queue.arn;
      const redrive = parseRedrivePolicy(queue.attributes.RedrivePolicy);
      if (redrive === undefined) {
        found.push({
          problem: `the ${queueName(queue.queue)} has no redrive policy: messages that keep failing never reach the ${dlq.queue.label}`,
          fix: local
            ? "restart 'sluice dev': it sets the queues' attributes from the stack's template"
            : "deploy the stack again (npx cdk deploy): the queue's RedrivePolicy was changed outside CloudFormation",
        });
      } else if (dlqArn !== undefined && redrive.deadLetterTargetArn !== dlqArn) {
        found.push({
          problem: `the ${queueName(queue.queue)} redrives to ${redrive.deadLetterTargetArn}, not to its DLQ ${dlqArn}`,
          fix: local
            ? "restart 'sluice dev': it sets the queues' attributes from the stack's template"
            : "deploy the stack again (npx cdk deploy): the queue's RedrivePolicy was changed outside CloudFormation",
        });
      }
    }
    if (dlq.attributes !== undefined) {
      const held = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']
        .map((key) => Number(dlq.attributes?.[key] ?? 0))
        .reduce((sum, count) => sum + count, 0);
      dlqMessages += held;
      if (held > 0) found.push(dlqFinding(lane, dlq.queue, held));
    }
  }
  if (found.length > 0) return problems(found);
  return ok(
    `${lanes.length * 2} queues exist; ${lanes.map((lane) => lane.queue.label).join(', ')} redrive to their DLQs; ` +
      `the DLQs hold ${dlqMessages} messages`,
  );
}

function missingQueueFix(target: Target): string {
  if (target.kind === 'local') return "restart 'sluice dev': it creates every queue the stack defines";
  return (
    `check that the outputs are current (aws cloudformation describe-stacks --stack-name ${target.stackName}); ` +
    "a queue deleted outside CloudFormation is not recreated by 'cdk deploy': detect the drift " +
    `(aws cloudformation detect-stack-drift --stack-name ${target.stackName}) and recreate the stack`
  );
}

function dlqFinding(lane: LaneName, dlq: QueueRef, held: number): Finding {
  return {
    problem: `the ${dlq.label} holds ${held} message${held === 1 ? '' : 's'}: items dead-lettered ${lane === 'published' ? 'after publication' : `in the ${lane} stage`}`,
    fix:
      `find and fix the cause (docs/runbook.md#dlq-has-messages; 'sluice redrive --stage ${lane} --dry-run' lists them), ` +
      `then: sluice redrive --stage ${lane}`,
  };
}

/** `intake queue`, `intake DLQ`. */
function queueName(queue: QueueRef): string {
  return queue.label.endsWith('DLQ') ? queue.label : `${queue.label} queue`;
}
