import { join } from 'node:path';
import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { DependencyLayer } from '../layers/dependency-layer.ts';
import { PROJECT_ROOT } from './cdk-json.ts';
import { runtimeConfigFor, type SluiceConfig, supervisorConfigFor } from './config.ts';
import { LlmStage } from './constructs/llm-stage.ts';
import { MemoryTable } from './constructs/memory-table.ts';
import { Observability } from './constructs/observability.ts';
import { RedrivableQueue } from './constructs/redrivable-queue.ts';
import { StateTable } from './constructs/state-table.ts';
import { Supervisor } from './constructs/supervisor.ts';
import type { OPTIONAL_STACK_OUTPUT_KEYS, STACK_OUTPUT_KEYS } from './outputs.ts';

export { PROJECT_ROOT } from './cdk-json.ts';
export { STACK_NAME } from './outputs.ts';

/** Properties of {@link SluiceStack}. */
export interface SluiceStackProps extends StackProps {
  /** The validated configuration (see `loadConfig`). */
  readonly config: SluiceConfig;
}

/**
 * The whole pipeline: intake queue → extract function → draft queue → draft function → published queue, each
 * queue with its DLQ; the state and memory tables; the LLM API key secret; optionally the dependency layer; the
 * supervisor that pauses, resumes and scales the stages (unless switched off); the dashboard and alarms with their
 * SNS topic.
 * @example
 * const app = new App();
 * new SluiceStack(app, STACK_NAME, { config: loadConfig(app.node.tryGetContext('sluice')) });
 */
export class SluiceStack extends Stack {
  readonly extract: LlmStage;
  readonly draft: LlmStage;
  readonly published: RedrivableQueue;
  readonly stateTable: StateTable;
  readonly memoryTable: MemoryTable;
  readonly apiKeySecret: ISecret;
  readonly dependencyLayer: DependencyLayer | undefined;
  /** The scheduled supervisor; undefined when `supervisor.enabled` is false. */
  readonly supervisor: Supervisor | undefined;
  readonly observability: Observability;

  constructor(scope: Construct, id: string, props: SluiceStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.stateTable = new StateTable(this, 'StateTable');
    this.memoryTable = new MemoryTable(this, 'MemoryTable');
    this.apiKeySecret = this.createApiKeySecret(config.apiKeySecretArn);
    this.dependencyLayer = config.useDependencyLayer
      ? new DependencyLayer(this, 'DependencyLayer', { projectRoot: PROJECT_ROOT })
      : undefined;
    this.published = new RedrivableQueue(this, 'Published', { maxReceiveCount: config.maxReceiveCount });

    const shared = {
      reservedConcurrencyEnabled: config.reservedConcurrencyEnabled,
      maxReceiveCount: config.maxReceiveCount,
      projectRoot: PROJECT_ROOT,
      stateTable: this.stateTable,
      memoryTable: this.memoryTable,
      apiKeySecret: this.apiKeySecret,
      logLevel: config.logLevel,
      // Every value the config accepts is a RetentionDays member: the enum's values are the day counts.
      logRetention: config.logRetentionDays as RetentionDays,
      ...(this.dependencyLayer === undefined
        ? {}
        : { dependencyLayer: { layer: this.dependencyLayer, packages: this.dependencyLayer.packages } }),
    };
    this.draft = new LlmStage(this, 'Draft', {
      ...shared,
      stage: 'draft',
      settings: config.stages.draft,
      runtimeConfig: runtimeConfigFor(config, 'draft'),
      entry: join(PROJECT_ROOT, 'functions', 'draft', 'index.ts'),
      nextQueue: this.published.queue,
      memoryTableAccess: true,
    });
    this.extract = new LlmStage(this, 'Extract', {
      ...shared,
      stage: 'extract',
      settings: config.stages.extract,
      runtimeConfig: runtimeConfigFor(config, 'extract'),
      entry: join(PROJECT_ROOT, 'functions', 'extract', 'index.ts'),
      nextQueue: this.draft.queue,
    });

    this.supervisor = config.supervisor.enabled
      ? new Supervisor(this, 'Supervisor', {
          runtimeConfig: supervisorConfigFor(config),
          intervalSeconds: config.supervisor.intervalSeconds,
          llmTimeoutSeconds: config.llm.timeoutSeconds,
          reservedConcurrencyEnabled: config.reservedConcurrencyEnabled,
          stages: { extract: this.extract, draft: this.draft },
          stateTable: this.stateTable,
          memoryTable: this.memoryTable,
          apiKeySecret: this.apiKeySecret,
          entry: join(PROJECT_ROOT, 'functions', 'supervisor', 'index.ts'),
          projectRoot: PROJECT_ROOT,
          logLevel: shared.logLevel,
          logRetention: shared.logRetention,
          ...(shared.dependencyLayer === undefined ? {} : { dependencyLayer: shared.dependencyLayer }),
        })
      : undefined;

    this.observability = new Observability(this, 'Observability', {
      stages: [
        {
          stage: 'extract',
          queueName: 'Intake',
          queue: this.extract.queue,
          deadLetterQueue: this.extract.deadLetterQueue,
          function: this.extract.function,
          maxConcurrency: config.stages.extract.maxConcurrency,
          model: config.stages.extract.model,
        },
        {
          stage: 'draft',
          queueName: 'Draft',
          queue: this.draft.queue,
          deadLetterQueue: this.draft.deadLetterQueue,
          function: this.draft.function,
          maxConcurrency: config.stages.draft.maxConcurrency,
          model: config.stages.draft.model,
        },
      ],
      published: this.published,
      thresholds: config.alarms,
      ...(this.supervisor === undefined
        ? {}
        : { supervisor: { function: this.supervisor.function, scheduleMinutes: this.supervisor.scheduleMinutes } }),
      ...(config.llm.fallbackModel === undefined ? {} : { fallbackModel: config.llm.fallbackModel }),
      ...(config.alarmEmail === undefined ? {} : { alarmEmail: config.alarmEmail }),
    });

    this.addOutputs();
  }

  private createApiKeySecret(existingArn: string | undefined): ISecret {
    if (existingArn !== undefined) {
      return Secret.fromSecretCompleteArn(this, 'ApiKeySecret', existingArn);
    }
    const secret = new Secret(this, 'ApiKeySecret', {
      description: 'API key of the OpenAI-compatible LLM provider used by sluice; put the key in after deploying.',
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason: "A third-party provider's API key: it is rotated at the provider, which no rotation Lambda can do.",
    });
    return secret;
  }

  private addOutputs(): void {
    const outputs: Record<(typeof STACK_OUTPUT_KEYS)[number], string> &
      Partial<Record<(typeof OPTIONAL_STACK_OUTPUT_KEYS)[number], string>> = {
      IntakeQueueUrl: this.extract.queue.queueUrl,
      IntakeQueueArn: this.extract.queue.queueArn,
      IntakeDeadLetterQueueUrl: this.extract.deadLetterQueue.queueUrl,
      IntakeDeadLetterQueueArn: this.extract.deadLetterQueue.queueArn,
      DraftQueueUrl: this.draft.queue.queueUrl,
      DraftQueueArn: this.draft.queue.queueArn,
      DraftDeadLetterQueueUrl: this.draft.deadLetterQueue.queueUrl,
      DraftDeadLetterQueueArn: this.draft.deadLetterQueue.queueArn,
      PublishedQueueUrl: this.published.queue.queueUrl,
      PublishedQueueArn: this.published.queue.queueArn,
      PublishedDeadLetterQueueUrl: this.published.deadLetterQueue.queueUrl,
      PublishedDeadLetterQueueArn: this.published.deadLetterQueue.queueArn,
      StateTableName: this.stateTable.tableName,
      MemoryTableName: this.memoryTable.tableName,
      ApiKeySecretArn: this.apiKeySecret.secretArn,
      ExtractFunctionName: this.extract.function.functionName,
      DraftFunctionName: this.draft.function.functionName,
      ExtractEventSourceMappingId: this.extract.eventSourceMappingId,
      DraftEventSourceMappingId: this.draft.eventSourceMappingId,
      AlarmTopicArn: this.observability.alarmTopic.topicArn,
      DashboardName: this.observability.dashboard.dashboardName,
    };
    if (this.supervisor !== undefined) outputs.SupervisorFunctionName = this.supervisor.function.functionName;
    for (const [id, value] of Object.entries(outputs)) {
      if (value !== undefined) new CfnOutput(this, id, { value });
    }
  }
}
