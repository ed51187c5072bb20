import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';

/** Properties of {@link AlarmTopic}. */
export interface AlarmTopicProps {
  /**
   * Email address subscribed to the topic; the recipient confirms the subscription from the first message.
   * @default no subscription
   */
  readonly email?: string;
}

/**
 * The SNS topic every alarm notifies: encrypted with its own KMS key (CloudWatch cannot use the AWS-managed SNS
 * key), SSL-only, published to by this account's alarms only, with an optional email subscription.
 * @example
 * const { topic } = new AlarmTopic(this, 'AlarmTopic', { email: 'ops@example.com' });
 */
export class AlarmTopic extends Construct {
  readonly topic: Topic;
  readonly key: Key;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    super(scope, id);
    const { account, region, partition } = Stack.of(this);
    const cloudWatch = new ServicePrincipal('cloudwatch.amazonaws.com');

    this.key = new Key(this, 'Key', {
      description: 'Encrypts the sluice alarm topic',
      enableKeyRotation: true,
      // The key protects notifications in transit through SNS, not data kept anywhere: nothing to retain.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    // Alarm actions publish as CloudWatch, which needs the data key to write to an encrypted topic; only for this
    // account's alarms, so no other account's alarm can make CloudWatch use the key (the confused deputy).
    const thisAccountsAlarms = {
      ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
      StringEquals: { 'aws:SourceAccount': account },
    };
    this.key.grant(cloudWatch.withConditions(thisAccountsAlarms), 'kms:Decrypt', 'kms:GenerateDataKey*');

    this.topic = new Topic(this, 'Topic', {
      displayName: 'sluice alarms',
      masterKey: this.key,
      enforceSSL: true,
    });
    this.topic.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowThisAccountsAlarmsToPublish',
        effect: Effect.ALLOW,
        principals: [cloudWatch],
        actions: ['sns:Publish'],
        resources: [this.topic.topicArn],
        conditions: thisAccountsAlarms,
      }),
    );
    if (props.email !== undefined) {
      const subscription = this.topic.addSubscription(new EmailSubscription(props.email));
      Validations.of(subscription).acknowledge({
        id: 'Serverless-SNSRedrivePolicy',
        reason:
          'An email subscription to alarm notifications: a queue of undelivered emails would be read by no one, and every alarm state stays on the dashboard and in CloudWatch, where a missed notification is found.',
      });
    }
  }
}
