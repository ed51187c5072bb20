import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  CreateTableCommand,
  type CreateTableCommandInput,
  DescribeTableCommand,
  type DynamoDBClient,
  ResourceNotFoundException,
  type TableDescription,
  UpdateTableCommand,
} from '@aws-sdk/client-dynamodb';
import { CreateQueueCommand, SetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { IndexDefinition, KeyElement, QueueDefinition, TableDefinition, TemplateDescription } from './template.ts';
import {
  EVENT_SOURCE_MAPPING_TYPE,
  type ExpressionScope,
  FUNCTION_TYPE,
  GLOBAL_TABLE_TYPE,
  type PseudoParameter,
  QUEUE_TYPE,
  resolveExpression,
  SECRET_TYPE,
  TABLE_TYPE,
  TemplateError,
} from './template-expressions.ts';

/** Base error of this module: a resource the emulators could not provide as the template describes it. */
export class LocalResourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalResourceError';
  }
}

/** Concurrency of an event source whose template sets neither maximum nor reserved concurrency. */
const DEFAULT_EVENT_SOURCE_CONCURRENCY = 5;

export interface LocalQueue {
  readonly logicalId: string;
  readonly name: string;
  readonly url: string;
  readonly arn: string;
  readonly visibilityTimeoutSeconds?: number;
  readonly deadLetterQueueLogicalId?: string;
  readonly maxReceiveCount?: number;
}

export interface LocalTable {
  readonly logicalId: string;
  readonly name: string;
  readonly arn: string;
  /** The attributes of its primary key. */
  readonly keyAttributes: readonly string[];
  /** The attribute its Time to Live reads, when the template enables it (swept by local/time-to-live.ts). */
  readonly timeToLiveAttribute?: string;
}

export interface LocalSecret {
  readonly logicalId: string;
  /**
   * Its local ARN (`...:secret:<logicalId>-local`), under which the runtime's local Secrets Manager serves it
   * (`sluice dev` puts the API key in it at start).
   */
  readonly arn: string;
}

export interface LocalFunction {
  readonly logicalId: string;
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  readonly reservedConcurrency?: number;
  /** The template's `Environment.Variables`, every reference resolved to its local value. */
  readonly environment: Readonly<Record<string, string>>;
}

export interface LocalEventSource {
  readonly logicalId: string;
  /** The mapping's UUID, what `Ref` of it resolves to: stable for a stack, region and logical id. */
  readonly uuid: string;
  readonly functionLogicalId: string;
  readonly queueLogicalId: string;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly batchSize: number;
  /** The template's `ScalingConfig.MaximumConcurrency`, when it sets one. */
  readonly maximumConcurrency?: number;
  /** Most concurrent invocations: the mapping's maximum concurrency capped by the function's reserved concurrency. */
  readonly maxConcurrency: number;
  readonly reportBatchItemFailures: boolean;
  readonly maximumBatchingWindowSeconds: number;
  readonly enabled: boolean;
}

export interface LocalDeployment {
  readonly queues: readonly LocalQueue[];
  readonly tables: readonly LocalTable[];
  readonly secrets: readonly LocalSecret[];
  readonly functions: readonly LocalFunction[];
  readonly eventSources: readonly LocalEventSource[];
  readonly outputs: Readonly<Record<string, string>>;
  /** What the template asks for that runs differently here (TTL, PITR, disabled event sources...). */
  readonly notes: readonly string[];
}

export interface CreateLocalResourcesOptions {
  readonly description: TemplateDescription;
  readonly stackName: string;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  /** Base of the local queue URLs, e.g. `http://127.0.0.1:40123`. */
  readonly sqsEndpoint: string;
  readonly region: string;
  readonly accountId: string;
  /** @default 10_000 */
  readonly tableActiveTimeoutMs?: number;
}

/**
 * Creates the template's queues (dead-letter queues first) and tables on the emulators, reusing those that
 * already exist, and resolves every function environment and stack output to local values. Queues and tables
 * are named by their logical id, which the template guarantees unique.
 *
 * @example
 * ```ts
 * const deployment = await createLocalResources({
 *   description: parseTemplate(template), stackName: 'Sluice', sqs, dynamodb,
 *   sqsEndpoint: emulators.sqsEndpoint, region: emulators.region, accountId: LOCAL_ACCOUNT_ID,
 * });
 * deployment.outputs.IntakeQueueUrl; // 'http://127.0.0.1:40123/000000000000/IntakeQueue5E6F7A8B'
 * ```
 */
export async function createLocalResources(options: CreateLocalResourcesOptions): Promise<LocalDeployment> {
  const { description, region, accountId } = options;
  const notes: string[] = [];

  const queues = new Map<string, LocalQueue>();
  const queueArn = (logicalId: string): string => `arn:aws:sqs:${region}:${accountId}:${logicalId}`;
  for (const definition of dlqFirst(description.queues)) {
    queues.set(definition.logicalId, await createQueue(options, definition, queueArn));
  }

  const tables = new Map<string, LocalTable>();
  for (const definition of description.tables) {
    await createTable(options, definition);
    tables.set(definition.logicalId, {
      logicalId: definition.logicalId,
      name: definition.logicalId,
      arn: `arn:aws:dynamodb:${region}:${accountId}:table/${definition.logicalId}`,
      keyAttributes: definition.keySchema.map((key) => key.attributeName),
      ...(definition.timeToLiveAttribute !== undefined && { timeToLiveAttribute: definition.timeToLiveAttribute }),
    });
    if (definition.timeToLiveAttribute !== undefined) {
      notes.push(
        `${definition.logicalId}: TTL on "${definition.timeToLiveAttribute}" is emulated by an hourly sweep (AWS deletes within days)`,
      );
    }
    if (definition.pointInTimeRecovery) {
      notes.push(`${definition.logicalId}: point-in-time recovery is not emulated`);
    }
  }

  const secrets = new Map<string, LocalSecret>();
  for (const { logicalId } of description.secrets) {
    secrets.set(logicalId, {
      logicalId,
      arn: `arn:aws:secretsmanager:${region}:${accountId}:secret:${logicalId}-local`,
    });
  }
  if (secrets.size > 0) {
    notes.push('secrets are served by the local Secrets Manager under local ARNs; no KMS key or rotation runs here');
  }

  const functionArn = (logicalId: string): string => `arn:aws:lambda:${region}:${accountId}:function:${logicalId}`;
  const scope = localScope(options, { queues, tables, secrets, functionArn });

  const functions = description.functions.map((definition): LocalFunction => {
    const environment: Record<string, string> = {};
    for (const [name, expression] of Object.entries(definition.environment)) {
      environment[name] = resolveExpression(
        expression,
        scope,
        `Resources.${definition.logicalId}.Properties.Environment.Variables.${name}`,
      );
    }
    return {
      logicalId: definition.logicalId,
      functionName: definition.logicalId,
      functionArn: functionArn(definition.logicalId),
      timeoutSeconds: definition.timeoutSeconds,
      memoryMb: definition.memoryMb,
      reservedConcurrency: definition.reservedConcurrency,
      environment,
    };
  });

  const eventSources = description.eventSources.map((definition): LocalEventSource => {
    const queue = queues.get(definition.queueLogicalId);
    const fn = functions.find((candidate) => candidate.logicalId === definition.functionLogicalId);
    if (queue === undefined || fn === undefined) {
      throw new LocalResourceError(
        `event source ${definition.logicalId} maps a queue or function that was not created`,
      );
    }
    const maxConcurrency = effectiveConcurrency(definition.maximumConcurrency, fn.reservedConcurrency);
    if (!definition.enabled) {
      notes.push(`${definition.logicalId}: disabled in the template, not polled`);
    } else if (maxConcurrency === 0) {
      notes.push(`${definition.logicalId}: ${fn.logicalId} has reserved concurrency 0, so it is never invoked`);
    }
    return {
      logicalId: definition.logicalId,
      uuid: eventSourceMappingUuid(options, definition.logicalId),
      functionLogicalId: definition.functionLogicalId,
      queueLogicalId: definition.queueLogicalId,
      queueUrl: queue.url,
      queueArn: queue.arn,
      batchSize: definition.batchSize,
      ...(definition.maximumConcurrency !== undefined && { maximumConcurrency: definition.maximumConcurrency }),
      maxConcurrency,
      reportBatchItemFailures: definition.reportBatchItemFailures,
      maximumBatchingWindowSeconds: definition.maximumBatchingWindowSeconds,
      enabled: definition.enabled,
    };
  });

  for (const rule of description.rules) {
    const what = rule.scheduleExpression === undefined ? 'event rule' : `schedule ${rule.scheduleExpression}`;
    const targets = rule.targetFunctionLogicalIds.length === 0 ? '' : ` of ${rule.targetFunctionLogicalIds.join(', ')}`;
    notes.push(`${rule.logicalId}: EventBridge ${what}${targets} is not run locally`);
  }

  const outputs: Record<string, string> = {};
  for (const [key, expression] of Object.entries(description.outputs)) {
    outputs[key] = resolveExpression(expression, scope, `Outputs.${key}`);
  }

  return {
    queues: [...queues.values()],
    tables: [...tables.values()],
    secrets: [...secrets.values()],
    functions,
    eventSources,
    outputs,
    notes,
  };
}

/**
 * How many invocations an event source runs at once: its maximum concurrency (or, without one, the function's
 * reserved concurrency or {@link DEFAULT_EVENT_SOURCE_CONCURRENCY}), never more than the reserved concurrency.
 * @example effectiveConcurrency(10, 4) // 4: reserved concurrency caps the mapping
 */
export function effectiveConcurrency(
  maximumConcurrency: number | undefined,
  reservedConcurrency: number | undefined,
): number {
  return Math.min(
    maximumConcurrency ?? reservedConcurrency ?? DEFAULT_EVENT_SOURCE_CONCURRENCY,
    reservedConcurrency ?? Number.POSITIVE_INFINITY,
  );
}

/** Namespace of the name-based (version 5) UUIDs of local event source mappings. */
const EVENT_SOURCE_MAPPING_NAMESPACE = Buffer.from('5c1d0e3a7b2f4e8c9a6d1f0b3e2c4a58', 'hex');

/**
 * The UUID a mapping has locally: a version 5 UUID of the account, region, stack and logical id, so it is the
 * same on every run (and in every outputs file) while being shaped like the UUID AWS gives a mapping.
 */
function eventSourceMappingUuid(
  location: { readonly accountId: string; readonly region: string; readonly stackName: string },
  logicalId: string,
): string {
  const hash = createHash('sha1')
    .update(EVENT_SOURCE_MAPPING_NAMESPACE)
    .update(`${location.accountId}:${location.region}:${location.stackName}:${logicalId}`)
    .digest();
  const bytes = hash.subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x50;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * Writes outputs in the shape `cdk deploy --outputs-file` writes, so tools that read that file work locally.
 *
 * @example
 * ```ts
 * await writeOutputsFile('.sluice/outputs.json', 'Sluice', deployment.outputs);
 * // { "Sluice": { "IntakeQueueUrl": "http://127.0.0.1:40123/000000000000/IntakeQueue5E6F7A8B", ... } }
 * ```
 */
export async function writeOutputsFile(
  file: string,
  stackName: string,
  outputs: Readonly<Record<string, string>>,
): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  // Written beside and renamed so a reader never sees half a file.
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, `${JSON.stringify({ [stackName]: outputs }, null, 2)}\n`, 'utf8');
  await rename(partial, file);
}

/** Orders queues so every dead-letter queue comes before the queues that redrive into it. */
function dlqFirst(definitions: readonly QueueDefinition[]): QueueDefinition[] {
  const byId = new Map(definitions.map((definition) => [definition.logicalId, definition]));
  const ordered: QueueDefinition[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (definition: QueueDefinition): void => {
    const seen = state.get(definition.logicalId);
    if (seen === 'done') {
      return;
    }
    if (seen === 'visiting') {
      throw new TemplateError(`Resources.${definition.logicalId}`, 'redrive policies form a cycle');
    }
    state.set(definition.logicalId, 'visiting');
    const dlq = definition.redrive && byId.get(definition.redrive.deadLetterQueueLogicalId);
    if (dlq) {
      visit(dlq);
    }
    state.set(definition.logicalId, 'done');
    ordered.push(definition);
  };
  definitions.forEach(visit);
  return ordered;
}

async function createQueue(
  options: CreateLocalResourcesOptions,
  definition: QueueDefinition,
  queueArn: (logicalId: string) => string,
): Promise<LocalQueue> {
  const name = definition.logicalId;
  const attributes: Record<string, string> = {};
  const set = (key: string, value: number | undefined): void => {
    if (value !== undefined) {
      attributes[key] = String(value);
    }
  };
  set('VisibilityTimeout', definition.visibilityTimeoutSeconds);
  set('MessageRetentionPeriod', definition.messageRetentionPeriodSeconds);
  set('DelaySeconds', definition.delaySeconds);
  set('ReceiveMessageWaitTimeSeconds', definition.receiveMessageWaitTimeSeconds);
  if (definition.redrive) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: queueArn(definition.redrive.deadLetterQueueLogicalId),
      maxReceiveCount: definition.redrive.maxReceiveCount,
    });
  }
  const allow = definition.redriveAllow;
  if (allow) {
    attributes.RedriveAllowPolicy = JSON.stringify(
      allow.redrivePermission === 'byQueue'
        ? { redrivePermission: 'byQueue', sourceQueueArns: allow.sourceQueueLogicalIds.map(queueArn) }
        : { redrivePermission: allow.redrivePermission },
    );
  }
  try {
    // Created bare, then given the template's attributes, so a queue kept in a data dir follows template changes.
    const created = await options.sqs.send(new CreateQueueCommand({ QueueName: name }));
    if (Object.keys(attributes).length > 0) {
      await options.sqs.send(new SetQueueAttributesCommand({ QueueUrl: created.QueueUrl, Attributes: attributes }));
    }
  } catch (error) {
    throw new LocalResourceError(`could not create queue ${name}: ${messageOf(error)}`, { cause: error });
  }
  return {
    logicalId: definition.logicalId,
    name,
    // fauxqs finds a queue by the name at the end of its URL, so a URL on the current endpoint always works,
    // even for a queue created by an earlier run on another port.
    url: `${options.sqsEndpoint}/${options.accountId}/${name}`,
    arn: queueArn(name),
    visibilityTimeoutSeconds: definition.visibilityTimeoutSeconds,
    deadLetterQueueLogicalId: definition.redrive?.deadLetterQueueLogicalId,
    maxReceiveCount: definition.redrive?.maxReceiveCount,
  };
}

async function createTable(options: CreateLocalResourcesOptions, definition: TableDefinition): Promise<void> {
  const name = definition.logicalId;
  const existing = await describeTable(options.dynamodb, name);
  const attributeDefinitions = definition.attributeDefinitions.map((attribute) => ({
    AttributeName: attribute.attributeName,
    AttributeType: attribute.attributeType,
  }));
  if (existing) {
    // Indexes the template gained are added; those it dropped stay (dynalite cannot delete one, and nothing
    // reads them); those in both must have the same keys.
    const kept = new Set((existing.GlobalSecondaryIndexes ?? []).map((index) => index.IndexName));
    const wanted = new Set(definition.globalSecondaryIndexes.map((index) => index.indexName));
    const added = definition.globalSecondaryIndexes.filter((index) => !kept.has(index.indexName));
    assertSameKeys(
      name,
      {
        ...definition,
        globalSecondaryIndexes: definition.globalSecondaryIndexes.filter((index) => kept.has(index.indexName)),
      },
      {
        ...existing,
        GlobalSecondaryIndexes: (existing.GlobalSecondaryIndexes ?? []).filter((index) =>
          wanted.has(index.IndexName ?? ''),
        ),
      },
    );
    for (const index of added) await addIndex(options.dynamodb, name, attributeDefinitions, index);
  } else {
    const input: CreateTableCommandInput = {
      TableName: name,
      KeySchema: keySchemaOf(definition.keySchema),
      AttributeDefinitions: attributeDefinitions,
      // Capacity means nothing to the emulator; on-demand avoids inventing throughput for every index.
      BillingMode: 'PAY_PER_REQUEST',
      GlobalSecondaryIndexes: definition.globalSecondaryIndexes.length
        ? definition.globalSecondaryIndexes.map(indexInput)
        : undefined,
      LocalSecondaryIndexes: definition.localSecondaryIndexes.length
        ? definition.localSecondaryIndexes.map(indexInput)
        : undefined,
    };
    try {
      await options.dynamodb.send(new CreateTableCommand(input));
    } catch (error) {
      throw new LocalResourceError(`could not create table ${name}: ${messageOf(error)}`, { cause: error });
    }
  }
  await waitUntilActive(options.dynamodb, name, options.tableActiveTimeoutMs ?? 10_000);
}

const keySchemaOf = (keys: readonly KeyElement[]) =>
  keys.map((key) => ({ AttributeName: key.attributeName, KeyType: key.keyType }));

const indexInput = (index: IndexDefinition) => ({
  IndexName: index.indexName,
  KeySchema: keySchemaOf(index.keySchema),
  Projection: {
    ProjectionType: index.projectionType,
    NonKeyAttributes: index.nonKeyAttributes ? [...index.nonKeyAttributes] : undefined,
  },
});

/**
 * Adds an index the template gained to a table kept from an earlier run, as CloudFormation adds one in place:
 * UpdateTable creates it and fills it from the items. dynalite 4 took such a call and did nothing;
 * patches/dynalite+4.0.0.patch makes it create the index (applied by `npm install`).
 */
async function addIndex(
  dynamodb: DynamoDBClient,
  name: string,
  attributeDefinitions: readonly { AttributeName: string; AttributeType: 'S' | 'N' | 'B' }[],
  index: IndexDefinition,
): Promise<void> {
  const keyed = new Set(index.keySchema.map((key) => key.attributeName));
  try {
    await dynamodb.send(
      new UpdateTableCommand({
        TableName: name,
        AttributeDefinitions: attributeDefinitions.filter((attribute) => keyed.has(attribute.AttributeName)),
        GlobalSecondaryIndexUpdates: [{ Create: indexInput(index) }],
      }),
    );
  } catch (error) {
    throw new LocalResourceError(`could not add index ${index.indexName} to table ${name}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const table = await describeTable(dynamodb, name);
  if (!(table?.GlobalSecondaryIndexes ?? []).some((found) => found.IndexName === index.indexName)) {
    throw new LocalResourceError(
      `the local DynamoDB did not add index ${index.indexName} to table ${name} kept from an earlier run: ` +
        'patches/dynalite+4.0.0.patch is not applied (run `npx patch-package`, or delete the local data directory)',
    );
  }
}

async function describeTable(dynamodb: DynamoDBClient, name: string): Promise<TableDescription | undefined> {
  try {
    const { Table } = await dynamodb.send(new DescribeTableCommand({ TableName: name }));
    return Table;
  } catch (error) {
    if (error instanceof ResourceNotFoundException) {
      return undefined;
    }
    throw new LocalResourceError(`could not describe table ${name}: ${messageOf(error)}`, { cause: error });
  }
}

function assertSameKeys(name: string, definition: TableDefinition, existing: TableDescription): void {
  const keysOf = (keys: readonly { AttributeName?: string; KeyType?: string }[] | undefined): string =>
    (keys ?? []).map((key) => `${key.AttributeName}:${key.KeyType}`).join(',');
  const wanted = [
    keysOf(definition.keySchema.map((key) => ({ AttributeName: key.attributeName, KeyType: key.keyType }))),
    ...definition.globalSecondaryIndexes
      .map(
        (index) =>
          `${index.indexName}=${keysOf(index.keySchema.map((key) => ({ AttributeName: key.attributeName, KeyType: key.keyType })))}`,
      )
      .sort(),
  ];
  const found = [
    keysOf(existing.KeySchema),
    ...(existing.GlobalSecondaryIndexes ?? []).map((index) => `${index.IndexName}=${keysOf(index.KeySchema)}`).sort(),
  ];
  if (wanted.join(' ') !== found.join(' ')) {
    throw new LocalResourceError(
      `table ${name} kept from an earlier run has keys or indexes [${found.join(' ')}] but the template now has ` +
        `[${wanted.join(' ')}]; delete the local data directory to recreate it`,
    );
  }
}

async function waitUntilActive(dynamodb: DynamoDBClient, name: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const table = await describeTable(dynamodb, name);
    const indexesActive = (table?.GlobalSecondaryIndexes ?? []).every((index) => index.IndexStatus === 'ACTIVE');
    if (table?.TableStatus === 'ACTIVE' && indexesActive) {
      return;
    }
    if (Date.now() >= deadline) {
      throw new LocalResourceError(`table ${name} did not become ACTIVE within ${timeoutMs} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

interface LocalValues {
  readonly queues: ReadonlyMap<string, LocalQueue>;
  readonly tables: ReadonlyMap<string, LocalTable>;
  readonly secrets: ReadonlyMap<string, LocalSecret>;
  readonly functionArn: (logicalId: string) => string;
}

/** CloudFormation's Ref / Fn::GetAtt semantics, answered with local names and ARNs. */
function localScope(options: CreateLocalResourcesOptions, values: LocalValues): ExpressionScope {
  const { description, region, accountId, stackName } = options;
  const pseudo: Record<PseudoParameter, string> = {
    'AWS::Region': region,
    'AWS::AccountId': accountId,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': stackName,
  };
  const typeOf = (logicalId: string): string => description.resourceTypes[logicalId] ?? 'unknown';
  const required = <T>(value: T | undefined, logicalId: string): T => {
    if (value === undefined) {
      throw new LocalResourceError(`${typeOf(logicalId)} ${logicalId} has no local counterpart`);
    }
    return value;
  };
  // Resources that are not emulated still get stable, recognisable values, so outputs that mention them resolve.
  const placeholderArn = (logicalId: string): string => {
    const [, service = 'unknown', resource = 'resource'] = typeOf(logicalId).split('::');
    return `arn:aws:${service.toLowerCase()}:${region}:${accountId}:${resource.toLowerCase()}/${logicalId}`;
  };
  return {
    pseudo: (name) => pseudo[name],
    ref(logicalId) {
      switch (typeOf(logicalId)) {
        case QUEUE_TYPE:
          return required(values.queues.get(logicalId), logicalId).url;
        case TABLE_TYPE:
        case GLOBAL_TABLE_TYPE:
          return required(values.tables.get(logicalId), logicalId).name;
        case SECRET_TYPE:
          return required(values.secrets.get(logicalId), logicalId).arn;
        case EVENT_SOURCE_MAPPING_TYPE:
          return eventSourceMappingUuid(options, logicalId);
        case FUNCTION_TYPE:
          return logicalId;
        case 'AWS::SNS::Topic':
          return placeholderArn(logicalId);
        default:
          return logicalId;
      }
    },
    getAtt(logicalId, attribute) {
      const type = typeOf(logicalId);
      if (type === QUEUE_TYPE) {
        const queue = required(values.queues.get(logicalId), logicalId);
        const byAttribute: Record<string, string> = { Arn: queue.arn, QueueUrl: queue.url, QueueName: queue.name };
        return required(byAttribute[attribute], logicalId);
      }
      if (type === TABLE_TYPE || type === GLOBAL_TABLE_TYPE) {
        return required(values.tables.get(logicalId), logicalId).arn;
      }
      if (type === SECRET_TYPE) {
        return required(values.secrets.get(logicalId), logicalId).arn;
      }
      if (type === FUNCTION_TYPE) {
        return values.functionArn(logicalId);
      }
      return placeholderArn(logicalId);
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
