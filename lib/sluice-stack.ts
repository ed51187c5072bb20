import { join } from 'node:path';
import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { PIPELINE } from '#functions/pipeline.ts';
import { type Pipeline, type StageDefinition, stageOf } from '#shared/pipeline.ts';
import { DependencyLayer } from '../layers/dependency-layer.ts';
import { PROJECT_ROOT } from './cdk-json.ts';
import { type SluiceConfig, stageConfigOf, stageModelsOf } from './config.ts';
import { LlmStage } from './constructs/llm-stage.ts';
import { MemoryTable } from './constructs/memory-table.ts';
import { Observability } from './constructs/observability.ts';
import { RedrivableQueue } from './constructs/redrivable-queue.ts';
import { StateTable } from './constructs/state-table.ts';
import { Supervisor } from './constructs/supervisor.ts';
import { PUBLISHED_QUEUE_KEY, queueOutputKeys, stageOutputKeys } from './outputs.ts';
import { runtimeConfigFor, supervisorConfigFor } from './runtime-configs.ts';

export { PROJECT_ROOT } from './cdk-json.ts';
export { STACK_NAME } from './outputs.ts';

/** Properties of {@link SluiceStack}. */
export interface SluiceStackProps extends StackProps {
  /** The validated configuration (see `loadConfig`). */
  readonly config: SluiceConfig;
  /**
   * The stages to deploy; `config` must have been loaded for the same pipeline.
   * @default the pipeline sluice ships (functions/pipeline.ts)
   */
  readonly pipeline?: Pipeline;
}

/** A stage of the pipeline and the construct that runs it. */
export interface DeployedStage {
  readonly definition: StageDefinition;
  readonly construct: LlmStage;
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
  /** The pipeline the stack deploys. */
  readonly pipeline: Pipeline;
  /** Its stages in order, each with the construct that runs it. */
  readonly stages: readonly DeployedStage[];
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
    this.pipeline = props.pipeline ?? PIPELINE;

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
    // Built last to first: each stage sends what it finishes to the next one's queue.
    const stages = new Map<string, LlmStage>();
    let nextQueue: IQueue = this.published.queue;
    for (const stage of [...this.pipeline.stages].reverse()) {
      const built = new LlmStage(this, stage.constructId, {
        ...shared,
        stage: stage.name,
        settings: stageConfigOf(config, stage.name),
        runtimeConfig: runtimeConfigFor(config, stage.name, this.pipeline),
        entry: join(PROJECT_ROOT, stage.module, 'index.ts'),
        nextQueue,
        ...(stage.usesMemory ? { memoryTableAccess: true } : {}),
      });
      stages.set(stage.name, built);
      nextQueue = built.queue;
    }
    this.stages = this.pipeline.stages.map((stage) => ({
      definition: stage,
      construct: stages.get(stage.name) as LlmStage,
    }));

    this.supervisor = config.supervisor.enabled
      ? new Supervisor(this, 'Supervisor', {
          runtimeConfig: supervisorConfigFor(config),
          intervalSeconds: config.supervisor.intervalSeconds,
          llmTimeoutSeconds: config.llm.timeoutSeconds,
          reservedConcurrencyEnabled: config.reservedConcurrencyEnabled,
          stages: Object.fromEntries(this.stages.map(({ definition, construct }) => [definition.name, construct])),
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
      stages: this.stages.map(({ definition, construct }) => {
        const settings = stageConfigOf(config, definition.name);
        return {
          stage: definition.name,
          queueName: definition.queueKey,
          queue: construct.queue,
          deadLetterQueue: construct.deadLetterQueue,
          function: construct.function,
          maxConcurrency: settings.maxConcurrency,
          models: stageModelsOf(settings),
        };
      }),
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

  /**
   * The construct of a stage by name.
   * @throws {PipelineDefinitionError} naming the stages there are.
   */
  stage(name: string): LlmStage {
    const stage = stageOf(this.pipeline, name);
    return (this.stages.find(({ definition }) => definition === stage) as DeployedStage).construct;
  }

  private addOutputs(): void {
    const outputs: Record<string, string> = {};
    const addQueue = (queueKey: string, queue: { queue: IQueue; deadLetterQueue: IQueue }) => {
      const keys = queueOutputKeys(queueKey);
      outputs[keys.url] = queue.queue.queueUrl;
      outputs[keys.arn] = queue.queue.queueArn;
      outputs[keys.deadLetterUrl] = queue.deadLetterQueue.queueUrl;
      outputs[keys.deadLetterArn] = queue.deadLetterQueue.queueArn;
    };
    for (const { definition, construct } of this.stages) addQueue(definition.queueKey, construct);
    addQueue(PUBLISHED_QUEUE_KEY, this.published);
    outputs.StateTableName = this.stateTable.tableName;
    outputs.MemoryTableName = this.memoryTable.tableName;
    outputs.ApiKeySecretArn = this.apiKeySecret.secretArn;
    for (const { definition, construct } of this.stages) {
      const keys = stageOutputKeys(definition.constructId);
      outputs[keys.functionName] = construct.function.functionName;
      outputs[keys.eventSourceMappingId] = construct.eventSourceMappingId;
    }
    outputs.AlarmTopicArn = this.observability.alarmTopic.topicArn;
    outputs.DashboardName = this.observability.dashboard.dashboardName;
    if (this.supervisor !== undefined) outputs.SupervisorFunctionName = this.supervisor.function.functionName;
    for (const [id, value] of Object.entries(outputs)) {
      if (value !== undefined) new CfnOutput(this, id, { value });
    }
  }
}
