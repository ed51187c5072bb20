import * as z from 'zod';
import {
  EVENT_SOURCE_MAPPING_TYPE,
  ExpressionReader,
  FUNCTION_TYPE,
  formatIssues,
  GLOBAL_TABLE_TYPE,
  QUEUE_TYPE,
  RULE_TYPE,
  SECRET_TYPE,
  TABLE_TYPE,
  TemplateError,
  type TemplateExpression,
} from './template-expressions.ts';

/**
 * Reads the synthesized CloudFormation template into a typed description of what the local runtime emulates:
 * queues, tables, functions, SQS event source mappings, secrets and outputs. Property values that are
 * expressions (Ref, Fn::GetAtt, Fn::Join...) are read by template-expressions.ts and checked against the
 * template, then evaluated by its `resolveExpression` once local names and ARNs exist. EventBridge rules are
 * described (their schedule and the functions they invoke) but not run: a scheduled function runs on a timer of
 * the local runtime, if at all.
 * Resource types the runtime does not emulate (IAM, logs, alarms, layers, policies, Lambda permissions and
 * invoke configs...) are kept only so references to them can be given placeholder values.
 */

export interface RedriveDefinition {
  readonly deadLetterQueueLogicalId: string;
  readonly maxReceiveCount: number;
}

export type RedriveAllowDefinition =
  | { readonly redrivePermission: 'allowAll' | 'denyAll' }
  | { readonly redrivePermission: 'byQueue'; readonly sourceQueueLogicalIds: readonly string[] };

export interface QueueDefinition {
  readonly logicalId: string;
  readonly visibilityTimeoutSeconds?: number;
  readonly messageRetentionPeriodSeconds?: number;
  readonly delaySeconds?: number;
  readonly receiveMessageWaitTimeSeconds?: number;
  readonly redrive?: RedriveDefinition;
  readonly redriveAllow?: RedriveAllowDefinition;
}

export interface KeyElement {
  readonly attributeName: string;
  readonly keyType: 'HASH' | 'RANGE';
}

export interface IndexDefinition {
  readonly indexName: string;
  readonly keySchema: readonly KeyElement[];
  readonly projectionType: 'ALL' | 'KEYS_ONLY' | 'INCLUDE';
  readonly nonKeyAttributes?: readonly string[];
}

export interface TableDefinition {
  readonly logicalId: string;
  readonly keySchema: readonly KeyElement[];
  readonly attributeDefinitions: readonly { readonly attributeName: string; readonly attributeType: 'S' | 'N' | 'B' }[];
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  readonly localSecondaryIndexes: readonly IndexDefinition[];
  readonly billingMode: 'PAY_PER_REQUEST' | 'PROVISIONED';
  /** dynalite has no TTL: the local runtime sweeps expired items itself (local/time-to-live.ts). */
  readonly timeToLiveAttribute?: string;
  /** Noted, not emulated. */
  readonly pointInTimeRecovery: boolean;
}

export interface FunctionDefinition {
  readonly logicalId: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly reservedConcurrency?: number;
  readonly environment: Readonly<Record<string, TemplateExpression>>;
}

export interface EventSourceDefinition {
  readonly logicalId: string;
  readonly queueLogicalId: string;
  readonly functionLogicalId: string;
  readonly batchSize: number;
  readonly maximumConcurrency?: number;
  readonly reportBatchItemFailures: boolean;
  readonly maximumBatchingWindowSeconds: number;
  readonly enabled: boolean;
}

export interface SecretDefinition {
  readonly logicalId: string;
}

/** An EventBridge rule: noted, never run locally. */
export interface RuleDefinition {
  readonly logicalId: string;
  /** e.g. `rate(1 minute)`; absent on a rule matching an event pattern. */
  readonly scheduleExpression?: string;
  /** The functions of this template among the rule's targets. */
  readonly targetFunctionLogicalIds: readonly string[];
}

export interface TemplateDescription {
  readonly queues: readonly QueueDefinition[];
  readonly tables: readonly TableDefinition[];
  readonly functions: readonly FunctionDefinition[];
  readonly eventSources: readonly EventSourceDefinition[];
  readonly secrets: readonly SecretDefinition[];
  /** EventBridge rules, described but not run locally. */
  readonly rules: readonly RuleDefinition[];
  readonly outputs: Readonly<Record<string, TemplateExpression>>;
  /** Resource type of every logical id, emulated or not. */
  readonly resourceTypes: Readonly<Record<string, string>>;
  /** Template parameters that have a default (the only ones a reference can be resolved to). */
  readonly parameterDefaults: Readonly<Record<string, string>>;
}

const seconds = z.union([z.number().int().min(0), z.string().regex(/^\d+$/).transform(Number)]);
const positiveInt = z.union([
  z.number().int().min(1),
  z
    .string()
    .regex(/^[1-9]\d*$/)
    .transform(Number),
]);
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((value) => value === 'true')]);

const templateSchema = z.looseObject({
  Parameters: z.record(z.string(), z.looseObject({ Type: z.string(), Default: z.unknown().optional() })).optional(),
  Resources: z.record(
    z.string(),
    z.looseObject({
      Type: z.string().min(1),
      Properties: z.record(z.string(), z.unknown()).optional(),
      Condition: z.string().optional(),
    }),
  ),
  Outputs: z.record(z.string(), z.looseObject({ Value: z.unknown(), Condition: z.string().optional() })).optional(),
});

const queuePropertiesSchema = z.looseObject({
  FifoQueue: bool.optional(),
  VisibilityTimeout: seconds.optional(),
  MessageRetentionPeriod: seconds.optional(),
  DelaySeconds: seconds.optional(),
  ReceiveMessageWaitTimeSeconds: seconds.optional(),
  RedrivePolicy: z.object({ deadLetterTargetArn: z.unknown(), maxReceiveCount: positiveInt }).optional(),
  RedriveAllowPolicy: z
    .object({
      redrivePermission: z.enum(['allowAll', 'denyAll', 'byQueue']),
      sourceQueueArns: z.array(z.unknown()).optional(),
    })
    .optional(),
});

const keySchemaSchema = z
  .array(z.object({ AttributeName: z.string().min(1), KeyType: z.enum(['HASH', 'RANGE']) }))
  .min(1)
  .max(2);

const indexSchema = z.looseObject({
  IndexName: z.string().min(3),
  KeySchema: keySchemaSchema,
  Projection: z
    .object({
      ProjectionType: z.enum(['ALL', 'KEYS_ONLY', 'INCLUDE']).optional(),
      NonKeyAttributes: z.array(z.string()).optional(),
    })
    .optional(),
});

const tablePropertiesSchema = z.looseObject({
  KeySchema: keySchemaSchema,
  AttributeDefinitions: z
    .array(z.object({ AttributeName: z.string().min(1), AttributeType: z.enum(['S', 'N', 'B']) }))
    .min(1),
  GlobalSecondaryIndexes: z.array(indexSchema).optional(),
  LocalSecondaryIndexes: z.array(indexSchema).optional(),
  BillingMode: z.enum(['PAY_PER_REQUEST', 'PROVISIONED']).optional(),
  TimeToLiveSpecification: z.object({ AttributeName: z.string().optional(), Enabled: bool }).optional(),
  PointInTimeRecoverySpecification: z.looseObject({ PointInTimeRecoveryEnabled: bool.optional() }).optional(),
  // AWS::DynamoDB::GlobalTable keeps PITR per replica.
  Replicas: z
    .array(
      z.looseObject({
        PointInTimeRecoverySpecification: z.looseObject({ PointInTimeRecoveryEnabled: bool.optional() }).optional(),
      }),
    )
    .optional(),
});

const functionPropertiesSchema = z.looseObject({
  Timeout: positiveInt.optional(),
  MemorySize: positiveInt.optional(),
  ReservedConcurrentExecutions: z
    .union([z.number().int().min(0), z.string().regex(/^\d+$/).transform(Number)])
    .optional(),
  Environment: z.looseObject({ Variables: z.record(z.string(), z.unknown()).optional() }).optional(),
});

const eventSourcePropertiesSchema = z.looseObject({
  EventSourceArn: z.unknown(),
  FunctionName: z.unknown(),
  BatchSize: positiveInt.optional(),
  MaximumBatchingWindowInSeconds: seconds.optional(),
  FunctionResponseTypes: z.array(z.literal('ReportBatchItemFailures')).optional(),
  ScalingConfig: z.object({ MaximumConcurrency: positiveInt.optional() }).optional(),
  Enabled: bool.optional(),
});

const rulePropertiesSchema = z.looseObject({
  ScheduleExpression: z.string().optional(),
  Targets: z.array(z.looseObject({ Arn: z.unknown() })).optional(),
});

/** Lambda's defaults for properties the template leaves out. */
const LAMBDA_DEFAULT_TIMEOUT_SECONDS = 3;
const LAMBDA_DEFAULT_MEMORY_MB = 128;
const SQS_DEFAULT_BATCH_SIZE = 10;
/** SQS queue names: up to 80 letters, digits, hyphens and underscores. */
const QUEUE_NAME_PATTERN = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * Parses a synthesized CloudFormation template (the object `cdk synth` writes) into what the local runtime
 * creates and runs. Fails with a {@link TemplateError} naming the resource on anything it cannot emulate.
 *
 * @example
 * ```ts
 * const description = parseTemplate(JSON.parse(await readFile('cdk.out/Sluice.template.json', 'utf8')));
 * description.queues.map((queue) => queue.logicalId); // ['IntakeDlq1A2B3C4D', 'IntakeQueue5E6F7A8B', ...]
 * ```
 */
export function parseTemplate(template: unknown): TemplateDescription {
  const parsed = templateSchema.safeParse(template);
  if (!parsed.success) {
    throw new TemplateError('template', `not a CloudFormation template: ${formatIssues(parsed.error)}`);
  }
  const { Resources: resources, Parameters: parameters = {}, Outputs: outputs = {} } = parsed.data;

  const resourceTypes: Record<string, string> = {};
  for (const [logicalId, resource] of Object.entries(resources)) {
    resourceTypes[logicalId] = resource.Type;
  }
  const parameterDefaults: Record<string, string> = {};
  for (const [name, parameter] of Object.entries(parameters)) {
    if (typeof parameter.Default === 'string' || typeof parameter.Default === 'number') {
      parameterDefaults[name] = String(parameter.Default);
    }
  }
  const reader = new ExpressionReader(resourceTypes, parameterDefaults);

  const queues: QueueDefinition[] = [];
  const tables: TableDefinition[] = [];
  const functions: FunctionDefinition[] = [];
  const eventSources: EventSourceDefinition[] = [];
  const secrets: SecretDefinition[] = [];
  const rules: RuleDefinition[] = [];

  for (const [logicalId, resource] of Object.entries(resources)) {
    const location = `Resources.${logicalId}`;
    const describe = DESCRIBERS[resource.Type];
    if (describe === undefined) {
      continue;
    }
    if (resource.Condition !== undefined) {
      throw new TemplateError(location, `conditions are not supported locally (${resource.Type} "${logicalId}")`);
    }
    const properties = resource.Properties ?? {};
    const context: DescribeContext = { logicalId, type: resource.Type, location, properties, reader };
    const described = describe(context);
    switch (described.kind) {
      case 'queue':
        queues.push(described.definition);
        break;
      case 'table':
        tables.push(described.definition);
        break;
      case 'function':
        functions.push(described.definition);
        break;
      case 'eventSource':
        eventSources.push(described.definition);
        break;
      case 'secret':
        secrets.push(described.definition);
        break;
      case 'rule':
        rules.push(described.definition);
        break;
    }
  }

  const outputExpressions: Record<string, TemplateExpression> = {};
  for (const [key, output] of Object.entries(outputs)) {
    const location = `Outputs.${key}`;
    if (output.Condition !== undefined) {
      throw new TemplateError(location, 'conditions are not supported locally');
    }
    outputExpressions[key] = reader.read(output.Value, location);
  }

  return {
    queues,
    tables,
    functions,
    eventSources,
    secrets,
    rules,
    outputs: outputExpressions,
    resourceTypes,
    parameterDefaults,
  };
}

interface DescribeContext {
  readonly logicalId: string;
  readonly type: string;
  readonly location: string;
  readonly properties: Record<string, unknown>;
  readonly reader: ExpressionReader;
}

type Described =
  | { readonly kind: 'queue'; readonly definition: QueueDefinition }
  | { readonly kind: 'table'; readonly definition: TableDefinition }
  | { readonly kind: 'function'; readonly definition: FunctionDefinition }
  | { readonly kind: 'eventSource'; readonly definition: EventSourceDefinition }
  | { readonly kind: 'secret'; readonly definition: SecretDefinition }
  | { readonly kind: 'rule'; readonly definition: RuleDefinition };

const DESCRIBERS: Readonly<Record<string, (context: DescribeContext) => Described>> = {
  [QUEUE_TYPE]: (context) => ({ kind: 'queue', definition: describeQueue(context) }),
  [TABLE_TYPE]: (context) => ({ kind: 'table', definition: describeTable(context) }),
  [GLOBAL_TABLE_TYPE]: (context) => ({ kind: 'table', definition: describeTable(context) }),
  [FUNCTION_TYPE]: (context) => ({ kind: 'function', definition: describeFunction(context) }),
  [EVENT_SOURCE_MAPPING_TYPE]: (context) => ({ kind: 'eventSource', definition: describeEventSource(context) }),
  [SECRET_TYPE]: (context) => ({ kind: 'secret', definition: { logicalId: context.logicalId } }),
  [RULE_TYPE]: (context) => ({ kind: 'rule', definition: describeRule(context) }),
};

function propertiesOf<T extends z.ZodType>(schema: T, context: DescribeContext): z.output<T> {
  const parsed = schema.safeParse(context.properties);
  if (!parsed.success) {
    throw new TemplateError(
      `${context.location}.Properties`,
      `unsupported ${context.type} "${context.logicalId}": ${formatIssues(parsed.error)}`,
    );
  }
  return parsed.data;
}

function describeQueue(context: DescribeContext): QueueDefinition {
  const properties = propertiesOf(queuePropertiesSchema, context);
  const { logicalId, location, reader } = context;
  if (properties.FifoQueue === true) {
    throw new TemplateError(location, `FIFO queue "${logicalId}" is not supported locally`);
  }
  if (!QUEUE_NAME_PATTERN.test(logicalId)) {
    throw new TemplateError(location, `logical id "${logicalId}" cannot be used as a local queue name`);
  }
  const queueArnOf = (value: unknown, at: string): string =>
    reader.readGetAttOf(value, QUEUE_TYPE, 'Arn', `${location}.Properties.${at}`);

  let redrive: RedriveDefinition | undefined;
  if (properties.RedrivePolicy !== undefined) {
    redrive = {
      deadLetterQueueLogicalId: queueArnOf(properties.RedrivePolicy.deadLetterTargetArn, 'RedrivePolicy'),
      maxReceiveCount: properties.RedrivePolicy.maxReceiveCount,
    };
  }
  let redriveAllow: RedriveAllowDefinition | undefined;
  const allowPolicy = properties.RedriveAllowPolicy;
  if (allowPolicy !== undefined) {
    redriveAllow =
      allowPolicy.redrivePermission === 'byQueue'
        ? {
            redrivePermission: 'byQueue',
            sourceQueueLogicalIds: (allowPolicy.sourceQueueArns ?? []).map((arn, index) =>
              queueArnOf(arn, `RedriveAllowPolicy.sourceQueueArns.${index}`),
            ),
          }
        : { redrivePermission: allowPolicy.redrivePermission };
  }
  return {
    logicalId,
    visibilityTimeoutSeconds: properties.VisibilityTimeout,
    messageRetentionPeriodSeconds: properties.MessageRetentionPeriod,
    delaySeconds: properties.DelaySeconds,
    receiveMessageWaitTimeSeconds: properties.ReceiveMessageWaitTimeSeconds,
    redrive: redrive,
    redriveAllow: redriveAllow,
  };
}

function describeTable(context: DescribeContext): TableDefinition {
  const properties = propertiesOf(tablePropertiesSchema, context);
  const toKeys = (keys: z.output<typeof keySchemaSchema>): KeyElement[] =>
    keys.map((key) => ({ attributeName: key.AttributeName, keyType: key.KeyType }));
  const toIndex = (index: z.output<typeof indexSchema>): IndexDefinition => ({
    indexName: index.IndexName,
    keySchema: toKeys(index.KeySchema),
    projectionType: index.Projection?.ProjectionType ?? 'ALL',
    nonKeyAttributes: index.Projection?.NonKeyAttributes,
  });
  const ttl = properties.TimeToLiveSpecification;
  const pointInTimeRecovery =
    properties.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled === true ||
    (properties.Replicas ?? []).some(
      (replica) => replica.PointInTimeRecoverySpecification?.PointInTimeRecoveryEnabled === true,
    );
  return {
    logicalId: context.logicalId,
    keySchema: toKeys(properties.KeySchema),
    attributeDefinitions: properties.AttributeDefinitions.map((definition) => ({
      attributeName: definition.AttributeName,
      attributeType: definition.AttributeType,
    })),
    globalSecondaryIndexes: (properties.GlobalSecondaryIndexes ?? []).map(toIndex),
    localSecondaryIndexes: (properties.LocalSecondaryIndexes ?? []).map(toIndex),
    billingMode: properties.BillingMode ?? 'PROVISIONED',
    timeToLiveAttribute: ttl?.Enabled === true ? ttl.AttributeName : undefined,
    pointInTimeRecovery,
  };
}

function describeFunction(context: DescribeContext): FunctionDefinition {
  const properties = propertiesOf(functionPropertiesSchema, context);
  const environment: Record<string, TemplateExpression> = {};
  for (const [name, value] of Object.entries(properties.Environment?.Variables ?? {})) {
    environment[name] = context.reader.read(value, `${context.location}.Properties.Environment.Variables.${name}`);
  }
  return {
    logicalId: context.logicalId,
    timeoutSeconds: properties.Timeout ?? LAMBDA_DEFAULT_TIMEOUT_SECONDS,
    memoryMb: properties.MemorySize ?? LAMBDA_DEFAULT_MEMORY_MB,
    reservedConcurrency: properties.ReservedConcurrentExecutions,
    environment,
  };
}

function describeEventSource(context: DescribeContext): EventSourceDefinition {
  const { logicalId, location, reader } = context;
  for (const unsupported of ['FilterCriteria', 'DestinationConfig', 'StartingPosition', 'SelfManagedEventSource']) {
    if (context.properties[unsupported] !== undefined) {
      throw new TemplateError(
        location,
        `${unsupported} of event source mapping "${logicalId}" is not supported locally`,
      );
    }
  }
  const properties = propertiesOf(eventSourcePropertiesSchema, context);
  const queueLogicalId = reader.readGetAttOf(
    properties.EventSourceArn,
    QUEUE_TYPE,
    'Arn',
    `${location}.Properties.EventSourceArn`,
  );
  const functionLogicalId = reader.readFunctionReference(
    properties.FunctionName,
    `${location}.Properties.FunctionName`,
  );
  return {
    logicalId,
    queueLogicalId,
    functionLogicalId,
    batchSize: properties.BatchSize ?? SQS_DEFAULT_BATCH_SIZE,
    maximumConcurrency: properties.ScalingConfig?.MaximumConcurrency,
    reportBatchItemFailures: (properties.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
    maximumBatchingWindowSeconds: properties.MaximumBatchingWindowInSeconds ?? 0,
    enabled: properties.Enabled ?? true,
  };
}

function describeRule(context: DescribeContext): RuleDefinition {
  const properties = propertiesOf(rulePropertiesSchema, context);
  const targetFunctionLogicalIds = (properties.Targets ?? []).flatMap(
    (target, index) =>
      context.reader.functionReferenceOf(target.Arn, `${context.location}.Properties.Targets.${index}.Arn`) ?? [],
  );
  return {
    logicalId: context.logicalId,
    ...(properties.ScheduleExpression === undefined ? {} : { scheduleExpression: properties.ScheduleExpression }),
    targetFunctionLogicalIds,
  };
}
