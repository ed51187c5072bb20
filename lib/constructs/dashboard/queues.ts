import { TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { DescribeAlarm } from '../alarms.ts';
import { QueueWithDlqMonitoring } from '../monitoring-segments.ts';
import type { DashboardRow } from './dashboard-row.ts';

/**
 * The queues row: each stage's input queue with its DLQ, and the published queue, with their alarms.
 * @example addQueueRows(row);
 */
export function addQueueRows({ monitoring, pipeline, described }: DashboardRow): void {
  const { stages, published, thresholds } = pipeline;
  const ageSeconds = thresholds.oldestMessageMinutes * 60;
  monitoring.addLargeHeader('Queues');
  for (const stage of stages) {
    const subject = stage.queueName.toLowerCase();
    monitoring.addSegment(
      new QueueWithDlqMonitoring(monitoring, {
        queue: stage.queue,
        deadLetterQueue: stage.deadLetterQueue,
        humanReadableName: `${stage.queueName} queue (${stage.stage} stage input)`,
        alarmFriendlyName: `${stage.queueName}Queue`,
        addDeadLetterQueueMaxSizeAlarm: {
          Critical: deadLetterThreshold(
            described,
            subject,
            `The ${subject} DLQ has messages: items the ${stage.stage} stage dead-lettered (invalid, a permanent error, failure budget spent, waited too long) or SQS moved there after maxReceiveCount receives. They stay until redriven.`,
          ),
        },
        addQueueMaxMessageAgeAlarm: {
          Warning: {
            maxAgeInSeconds: ageSeconds,
            // SQS stops reporting an empty, idle queue: no data means nothing is waiting.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            evaluationPeriods: 1,
            ...described(
              'oldestMessage',
              subject,
              `The oldest message on the ${subject} queue is older than ${thresholds.oldestMessageMinutes} minutes: the ${stage.stage} stage is not keeping up or not consuming.`,
            ),
          },
        },
      }),
    );
  }
  monitoring.addSegment(
    new QueueWithDlqMonitoring(monitoring, {
      queue: published.queue,
      deadLetterQueue: published.deadLetterQueue,
      humanReadableName: 'Published queue (output, read by your consumer)',
      alarmFriendlyName: 'PublishedQueue',
      addDeadLetterQueueMaxSizeAlarm: {
        Critical: deadLetterThreshold(
          described,
          'published',
          'The published DLQ has messages: your consumer received published events maxReceiveCount times without deleting them. They stay until redriven.',
        ),
      },
    }),
  );
}

/** The critical alarm on a DLQ: any message in it. */
function deadLetterThreshold(described: DescribeAlarm, subject: string, description: string) {
  return {
    // ApproximateNumberOfMessagesVisible counts every message in the DLQ however it got there; the count of
    // messages sent (NumberOfMessagesSent) misses the ones SQS moves after maxReceiveCount receives.
    maxMessageCount: 0,
    // An idle, empty queue reports nothing; a queue holding messages always reports: no data means empty.
    treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
    evaluationPeriods: 1,
    ...described('deadLetters', subject, description),
  };
}
