import { Duration, Validations } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StageConfig } from '#lib/config.ts';
import type { RuntimeConfig, Stage, StageEnvironment } from '#shared/runtime-config.ts';
import type { MemoryTable } from './memory-table.ts';
import { RedrivableQueue } from './redrivable-queue.ts';
import { type FunctionDependencyLayer, SluiceFunction } from './sluice-function.ts';
import type { StateTable } from './state-table.ts';

/** Properties of {@link LlmStage}. */
export interface LlmStageProps {
  /** Which stage this is (named in the function's description). */
  readonly stage: Stage;
  /** Concurrency, batching, timeout and memory of the stage. */
  readonly settings: StageConfig;
  /** Whether the function gets `settings.reservedConcurrency` as reserved concurrency. */
  readonly reservedConcurrencyEnabled: boolean;
  /** Receives before SQS moves a message from the stage's queue to its DLQ. */
  readonly maxReceiveCount: number;
  /** What the function needs at run time; validated already (see `runtimeConfigFor`). */
  readonly runtimeConfig: RuntimeConfig;
  /** Absolute path of the handler module (exports `handler`). */
  readonly entry: string;
  /** Folder holding package.json and package-lock.json. */
  readonly projectRoot: string;
  /** Where the stage sends the items it has finished. */
  readonly nextQueue: IQueue;
  readonly stateTable: StateTable;
  readonly memoryTable: MemoryTable;
  /**
   * Whether the function may look up and remember past items in the memory table (its name is in the environment
   * either way).
   * @default false
   */
  readonly memoryTableAccess?: boolean;
  /** Secret holding the LLM API key; the function reads it at init. */
  readonly apiKeySecret: ISecret;
  /** Powertools log level. */
  readonly logLevel: string;
  /** Retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /**
   * Layer providing shared third-party modules, which the bundle then leaves out.
   * @default none: every dependency is bundled
   */
  readonly dependencyLayer?: FunctionDependencyLayer;
}

/**
 * One LLM pipeline stage: its input queue with a dead-letter queue, the function that consumes it through an SQS
 * event source (maximum concurrency as the semaphore, partial batch failures), and least-privilege grants.
 * @example
 * const draft = new LlmStage(this, 'Draft', { stage: 'draft', nextQueue: published.queue, memoryTableAccess: true, ... });
 * draft.queue.queueUrl;
 */
export class LlmStage extends Construct {
  /** The queue this stage consumes. */
  readonly queue: IQueue;
  /** Where the stage's failing messages end up, by the redrive policy or sent by the handler. */
  readonly deadLetterQueue: IQueue;
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  /**
   * UUID of the SQS event source mapping (a token: the mapping's `Ref`); disabling the mapping pauses the stage
   * with its messages kept in the queue.
   */
  readonly eventSourceMappingId: string;

  constructor(scope: Construct, id: string, props: LlmStageProps) {
    super(scope, id);
    const { settings } = props;
    const timeout = Duration.seconds(settings.timeoutSeconds);
    const input = new RedrivableQueue(this, 'Input', {
      maxReceiveCount: props.maxReceiveCount,
      // Lambda's recommendation for SQS event sources: room for the retries of a throttled batch.
      visibilityTimeout: Duration.seconds(6 * settings.timeoutSeconds),
    });
    this.queue = input.queue;
    this.deadLetterQueue = input.deadLetterQueue;

    this.logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });

    const environment: StageEnvironment = {
      STATE_TABLE_NAME: props.stateTable.tableName,
      MEMORY_TABLE_NAME: props.memoryTable.tableName,
      QUEUE_URL: input.queue.queueUrl,
      NEXT_QUEUE_URL: props.nextQueue.queueUrl,
      DLQ_URL: input.deadLetterQueue.queueUrl,
      LLM_API_KEY_SECRET_ARN: props.apiKeySecret.secretArn,
      SLUICE_RUNTIME_CONFIG: JSON.stringify(props.runtimeConfig),
    };

    this.function = new SluiceFunction(this, 'Function', {
      description: `sluice ${props.stage} stage`,
      entry: props.entry,
      projectRoot: props.projectRoot,
      memorySize: settings.memoryMb,
      timeout,
      logGroup: this.logGroup,
      logLevel: props.logLevel,
      environment,
      ...(props.reservedConcurrencyEnabled ? { reservedConcurrentExecutions: settings.reservedConcurrency } : {}),
      ...(props.dependencyLayer === undefined ? {} : { dependencyLayer: props.dependencyLayer }),
    });

    const eventSource = new SqsEventSource(input.queue, {
      batchSize: settings.batchSize,
      maxConcurrency: settings.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.function.addEventSource(eventSource);
    this.eventSourceMappingId = eventSource.eventSourceMappingId;

    props.stateTable.grantStageAccess(this.function);
    if (props.memoryTableAccess === true) {
      props.memoryTable.grantLookup(this.function);
      props.memoryTable.grantRemember(this.function);
    }
    props.nextQueue.grantSendMessages(this.function);
    // Messages that must wait (rate limit, breaker, budget) are sent back to the stage's own queue with a delay.
    input.queue.grantSendMessages(this.function);
    input.deadLetterQueue.grantSendMessages(this.function);
    props.apiKeySecret.grantRead(this.function);

    this.acknowledgeFindings();
  }

  private acknowledgeFindings(): void {
    Validations.of(this.function).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'Invoked synchronously by its SQS event source only: failed records return to the queue, whose redrive policy moves them to the stage DLQ; a function DLQ applies to asynchronous invocations only.',
      },
      {
        id: 'Serverless-LambdaEventSourceMappingDestination',
        reason:
          'SQS event sources support no on-failure destination; the source queue redrive policy is the failure destination.',
      },
    );
  }
}
