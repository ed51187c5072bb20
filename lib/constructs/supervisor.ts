import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import { Rule, Schedule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import {
  type SupervisorEnvironment,
  type SupervisorRuntimeConfig,
  supervisedStageKeys,
} from '#functions/supervisor/runtime-config.ts';
import { supervisorScheduleMinutes } from '../supervisor-schedule.ts';
import type { MemoryTable } from './memory-table.ts';
import { type FunctionDependencyLayer, SluiceFunction } from './sluice-function.ts';
import type { StateTable } from './state-table.ts';

/** Lambda's longest timeout, in seconds. */
const MAX_LAMBDA_TIMEOUT_SECONDS = 900;
/** Time a look needs beside its one probe call: reading the breakers, the mappings, the queues and the ledgers. */
const LOOK_OVERHEAD_SECONDS = 30;
/** The extra minute an invocation runs when it ticks several times within one scheduled minute. */
const SUB_MINUTE_TICKING_SECONDS = 60;
/** Memory of the supervisor: a few API calls and at most one small LLM call per look. */
const SUPERVISOR_MEMORY_MB = 256;
/**
 * How long EventBridge and Lambda keep trying to deliver one scheduled event: the shortest age both accept. A look
 * that cannot start within it is dropped, and the next scheduled one follows.
 */
const MAX_EVENT_AGE = Duration.minutes(1);

export { supervisorScheduleMinutes };

/**
 * Timeout of the supervisor function in seconds: one probe call (`llm.timeoutSeconds`) plus the rest of a look,
 * plus a minute when the function ticks several times within each scheduled minute, and never above Lambda's
 * 900 s.
 * @example
 * supervisorTimeoutSeconds(60, 60); // 90
 * supervisorTimeoutSeconds(30, 60); // 150
 */
export function supervisorTimeoutSeconds(intervalSeconds: number, llmTimeoutSeconds: number): number {
  const ticking = intervalSeconds < 60 ? SUB_MINUTE_TICKING_SECONDS : 0;
  return Math.min(MAX_LAMBDA_TIMEOUT_SECONDS, llmTimeoutSeconds + LOOK_OVERHEAD_SECONDS + ticking);
}

/** A stage as the supervisor acts on it. */
export interface SupervisedStageResources {
  /** The stage's input queue (intake for extract), whose depth tells whether a resumed stage drains. */
  readonly queue: IQueue;
  /** UUID of the stage's SQS event source mapping, which the supervisor disables, enables and scales. */
  readonly eventSourceMappingId: string;
}

/** Properties of {@link Supervisor}. */
export interface SupervisorProps {
  /** What the function needs at run time; validated already (see `supervisorConfigFor`). */
  readonly runtimeConfig: SupervisorRuntimeConfig;
  /** Seconds between two looks (`supervisor.intervalSeconds`): sets the schedule and, under a minute, the timeout. */
  readonly intervalSeconds: number;
  /** Timeout of one LLM call (`llm.timeoutSeconds`): a look makes at most one, its probe. */
  readonly llmTimeoutSeconds: number;
  /** Whether the function gets a reserved concurrency of 1, so two looks never overlap. */
  readonly reservedConcurrencyEnabled: boolean;
  /** The stages it pauses, resumes and scales, by name; items it re-enriches go to `runtimeConfig.reenrichStage`'s queue. */
  readonly stages: Readonly<Record<string, SupervisedStageResources>>;
  readonly stateTable: StateTable;
  /** The memory table, which the supervisor probes with one lookup while the memory breaker is open. */
  readonly memoryTable: MemoryTable;
  /** Secret holding the LLM API key, for the probe calls. */
  readonly apiKeySecret: ISecret;
  /** Absolute path of the handler module (exports `handler`). */
  readonly entry: string;
  /** Folder holding package.json and package-lock.json. */
  readonly projectRoot: string;
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
 * The supervisor: a function invoked on a schedule that looks at the pipeline and heals it. It pauses a stage
 * (disables its event source mapping) whose models stay unavailable or whose budget is spent, probes the provider
 * and resumes it, adapts each mapping's maximum concurrency to the provider, and re-queues items drafted without
 * history to the draft queue. Its grants are exactly that: the state table's records and its index of items awaiting
 * history, a lookup in the memory table, the two mappings, the two stage queues' attributes, sending to the draft
 * queue, and the API key.
 * @example
 * const supervisor = new Supervisor(this, 'Supervisor', {
 *   runtimeConfig: supervisorConfigFor(config), intervalSeconds: 60, llmTimeoutSeconds: 60,
 *   stages: { extract, draft }, stateTable, apiKeySecret, entry, projectRoot, logLevel: 'INFO', ...
 * });
 * supervisor.function.functionName;
 */
export class Supervisor extends Construct {
  readonly function: NodejsFunction;
  readonly logGroup: LogGroup;
  /** The EventBridge rule that invokes the function every {@link scheduleMinutes} minutes. */
  readonly schedule: Rule;
  readonly scheduleMinutes: number;

  constructor(scope: Construct, id: string, props: SupervisorProps) {
    super(scope, id);
    const { stages } = props;
    this.scheduleMinutes = supervisorScheduleMinutes(props.intervalSeconds);
    this.logGroup = new LogGroup(this, 'LogGroup', { retention: props.logRetention });

    const environment: SupervisorEnvironment & Record<string, string> = {
      STATE_TABLE_NAME: props.stateTable.tableName,
      MEMORY_TABLE_NAME: props.memoryTable.tableName,
      LLM_API_KEY_SECRET_ARN: props.apiKeySecret.secretArn,
      SLUICE_SUPERVISOR_CONFIG: JSON.stringify(props.runtimeConfig),
    };
    for (const [stage, resources] of Object.entries(stages)) {
      const keys = supervisedStageKeys(stage);
      environment[keys.queueUrl] = resources.queue.queueUrl;
      environment[keys.mappingId] = resources.eventSourceMappingId;
    }
    this.function = new SluiceFunction(this, 'Function', {
      description: 'sluice supervisor: pauses, probes, resumes and scales the stages; re-enriches degraded items',
      entry: props.entry,
      projectRoot: props.projectRoot,
      memorySize: SUPERVISOR_MEMORY_MB,
      timeout: Duration.seconds(supervisorTimeoutSeconds(props.intervalSeconds, props.llmTimeoutSeconds)),
      logGroup: this.logGroup,
      logLevel: props.logLevel,
      environment,
      // One look at a time: two would race to pause, resume and scale the same mappings.
      ...(props.reservedConcurrencyEnabled ? { reservedConcurrentExecutions: 1 } : {}),
      ...(props.dependencyLayer === undefined ? {} : { dependencyLayer: props.dependencyLayer }),
    });
    // A failed or late look is not worth a retry: the next scheduled one looks again at the current state.
    this.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: MAX_EVENT_AGE });

    this.schedule = new Rule(this, 'Schedule', {
      description: `Invokes the sluice supervisor every ${this.scheduleMinutes === 1 ? 'minute' : `${this.scheduleMinutes} minutes`}`,
      schedule: Schedule.rate(Duration.minutes(this.scheduleMinutes)),
      targets: [new LambdaFunction(this.function, { retryAttempts: 0, maxEventAge: MAX_EVENT_AGE })],
    });

    this.grant(props);
    this.acknowledgeFindings();
  }

  private grant(props: SupervisorProps): void {
    const { stages } = props;
    // Single records (breakers, limits, budgets, control records, items marked re-queued), and the items waiting
    // to be drafted again with history.
    props.stateTable.grantRecordReadWrite(this.function);
    props.stateTable.grantAwaitingHistoryQuery(this.function);
    props.memoryTable.grantLookup(this.function);
    const stack = Stack.of(this);
    this.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping'],
        resources: Object.values(stages).map(({ eventSourceMappingId: uuid }) =>
          stack.formatArn({
            service: 'lambda',
            resource: 'event-source-mapping',
            resourceName: uuid,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ),
      }),
    );
    // Queue depths tell whether a resumed stage drains; items worked on without history are re-queued to the
    // stage that re-enriches them (its send grant reads the queue's attributes too).
    const reenriching = props.runtimeConfig.reenrichStage;
    for (const [name, { queue }] of Object.entries(stages)) {
      if (name === reenriching) queue.grantSendMessages(this.function);
      else queue.grant(this.function, 'sqs:GetQueueAttributes');
    }
    props.apiKeySecret.grantRead(this.function);
  }

  private acknowledgeFindings(): void {
    Validations.of(this.function).acknowledge(
      {
        id: 'Serverless-LambdaDLQ',
        reason:
          'Invoked by its schedule only, and a failed look is not retried: the next scheduled look starts from the current state, so a dead-letter queue would hold nothing anyone should replay. Failures show in the supervisor errors alarm.',
      },
      {
        id: 'Serverless-LambdaAsyncFailureDestination',
        reason:
          'The asynchronous invoke config exists to turn retries off (a stale look is worthless); a failed look is followed by the next scheduled one and counted by the supervisor errors alarm, so there is nothing to deliver anywhere.',
      },
    );
    Validations.of(this.schedule).acknowledge({
      id: 'Serverless-EventBusDLQ',
      reason:
        'A scheduled event carries no data: one that cannot be delivered is simply followed by the next scheduled one, so a dead-letter queue would only collect empty events.',
    });
  }
}
