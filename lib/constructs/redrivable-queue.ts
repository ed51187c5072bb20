import { Duration, Validations } from 'aws-cdk-lib';
import { Queue, QueueEncryption, RedrivePermission } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Longest retention SQS allows. A DLQ's retention counts from the original enqueue time, so both queues get it. */
const RETENTION = Duration.days(14);

/** Properties of {@link RedrivableQueue}. */
export interface RedrivableQueueProps {
  /** Receives after which SQS moves a message to the dead-letter queue. */
  readonly maxReceiveCount: number;
  /**
   * Visibility timeout of the main queue; six times the consuming function's timeout when a function consumes it.
   * @default 30 seconds
   */
  readonly visibilityTimeout?: Duration;
}

/**
 * A queue with its dead-letter queue: SQS-managed encryption, SSL-only access, 14-day retention, a redrive
 * policy on the queue and a redrive-allow policy on the DLQ (so the console's "Start DLQ redrive" works).
 * @example
 * const published = new RedrivableQueue(this, 'Published', { maxReceiveCount: 5 });
 * published.queue.grantSendMessages(fn);
 */
export class RedrivableQueue extends Construct {
  /** The queue producers send to and consumers read from. */
  readonly queue: Queue;
  /** Where messages go after `maxReceiveCount` receives without being deleted. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: RedrivableQueueProps) {
    super(scope, id);
    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
      // BY_QUEUE would name the source queue, whose redrive policy already names this DLQ: a CloudFormation
      // cycle. ALLOW_ALL admits only queues of this account and region, and the source queue alone points here.
      redriveAllowPolicy: { redrivePermission: RedrivePermission.ALLOW_ALL },
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason: 'This is a dead-letter queue: messages that keep failing end here, to be inspected and redriven.',
    });
    this.queue = new Queue(this, 'Queue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: RETENTION,
      ...(props.visibilityTimeout === undefined ? {} : { visibilityTimeout: props.visibilityTimeout }),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
    });
  }
}
