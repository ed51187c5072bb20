import { join } from 'node:path';
import { Duration, Validations } from 'aws-cdk-lib';
import { Architecture, type ILayerVersion, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { StageConfig } from '#lib/config.ts';
import type { RuntimeConfig, Stage, StageEnvironment } from '#shared/runtime-config.ts';
import type { MemoryTable } from './memory-table.ts';
import { RedrivableQueue } from './redrivable-queue.ts';
import type { StateTable } from './state-table.ts';

/** Lets ESM output load the CommonJS dependencies esbuild bundles (they call `require`). */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);";

/** The Lambda Node.js runtime provides the AWS SDK v3. */
const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*'];

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
   * Whether the function may read and write the memory table (its name is in the environment either way).
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
  readonly dependencyLayer?: { readonly layer: ILayerVersion; readonly packages: readonly string[] };
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

    const environment: StageEnvironment & Record<string, string> = {
      STATE_TABLE_NAME: props.stateTable.tableName,
      MEMORY_TABLE_NAME: props.memoryTable.tableName,
      QUEUE_URL: input.queue.queueUrl,
      NEXT_QUEUE_URL: props.nextQueue.queueUrl,
      DLQ_URL: input.deadLetterQueue.queueUrl,
      LLM_API_KEY_SECRET_ARN: props.apiKeySecret.secretArn,
      SLUICE_RUNTIME_CONFIG: JSON.stringify(props.runtimeConfig),
      POWERTOOLS_SERVICE_NAME: 'sluice',
      POWERTOOLS_METRICS_NAMESPACE: 'Sluice',
      POWERTOOLS_LOG_LEVEL: props.logLevel,
      NODE_OPTIONS: '--enable-source-maps',
    };

    const layer = props.dependencyLayer;
    this.function = new NodejsFunction(this, 'Function', {
      description: `sluice ${props.stage} stage`,
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: settings.memoryMb,
      timeout,
      tracing: Tracing.ACTIVE,
      logGroup: this.logGroup,
      environment,
      ...(props.reservedConcurrencyEnabled ? { reservedConcurrentExecutions: settings.reservedConcurrency } : {}),
      ...(layer === undefined ? {} : { layers: [layer.layer] }),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        banner: CREATE_REQUIRE_BANNER,
        externalModules: [...RUNTIME_PROVIDED_MODULES, ...(layer?.packages ?? [])],
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; the sources would double the bundle.
        sourcesContent: false,
        forceDockerBundling: false,
      },
    });

    const eventSource = new SqsEventSource(input.queue, {
      batchSize: settings.batchSize,
      maxConcurrency: settings.maxConcurrency,
      reportBatchItemFailures: true,
    });
    this.function.addEventSource(eventSource);
    this.eventSourceMappingId = eventSource.eventSourceMappingId;

    props.stateTable.grantItemReadWrite(this.function);
    if (props.memoryTableAccess === true) props.memoryTable.grantItemReadWrite(this.function);
    props.nextQueue.grantSendMessages(this.function);
    // Messages that must wait (rate limit, breaker, budget) are sent back to the stage's own queue with a delay.
    input.queue.grantSendMessages(this.function);
    input.deadLetterQueue.grantSendMessages(this.function);
    props.apiKeySecret.grantRead(this.function);

    this.acknowledgeFindings();
  }

  private acknowledgeFindings(): void {
    const fn = Validations.of(this.function);
    fn.acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason: 'The AWS managed basic execution policy only lets the function write its own CloudWatch logs.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
      },
      {
        id: 'Serverless-LambdaStarPermissions',
        reason:
          'The only wildcard is the X-Ray tracing statement, whose actions support no resource-level permissions.',
      },
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
