import {
  type EventSourceMappingConfiguration,
  GetEventSourceMappingCommand,
  type LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { errorText } from './errors.ts';
import type { Stage } from './runtime-config.ts';
import { controlKey } from './table-keys.ts';

/**
 * Pausing and resuming a stage: a stage is paused by disabling its SQS event source mapping, so no function is
 * invoked on its queue (the invocations in flight finish) and its messages wait in the queue, nothing lost;
 * resuming enables the mapping again. Who paused a stage and why is kept beside, in the state table's control
 * record (`CONTROL#<stage>`). The operator's `sluice pause|resume` and the supervisor's automatic pauses
 * (`by: 'auto'`) go through these same functions.
 */

/** Who changed a stage's state: an operator's command, or the supervisor's automatic pause and resume. */
export type ControlledBy = 'operator' | 'auto';

/** A stage's control record in the state table (`pk = CONTROL#<stage>`, `sk = CONTROL`). */
export interface StageControlRecord {
  stage: Stage;
  paused: boolean;
  by: ControlledBy;
  reason?: string | undefined;
  /** When it was paused or resumed (ISO 8601). */
  at: string;
}

/** What a pause or resume did. */
export interface StageControlOutcome {
  stage: Stage;
  action: 'pause' | 'resume';
  /** False when the stage was already as asked. */
  changed: boolean;
  mappingId: string;
  /** The mapping's State before, and as the update answered it (e.g. `Disabling`, in-flight invocations finishing). */
  previousState: string;
  state: string;
  /** The control record as it now stands. */
  control: StageControlRecord;
}

export interface StageControlOptions {
  by: ControlledBy;
  reason?: string | undefined;
  now: number;
}

/** Where a stage's mapping and control record live. */
export interface StageControlClients {
  lambda: LambdaClient;
  dynamo: DynamoDBDocumentClient;
  tableName: string;
}

/** The mapping could not be read or changed, or the control record not written; the message says which. */
export class StageControlError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StageControlError';
  }
}

/** States of a mapping that is not polling and will not start by itself. */
export const PAUSED_STATES: ReadonlySet<string> = new Set(['Disabled', 'Disabling']);
/** States of a mapping that polls, or is about to. */
const RUNNING_STATES: ReadonlySet<string> = new Set(['Enabled', 'Enabling']);

/**
 * A stage's control record, or undefined when it was never paused or resumed.
 * @example const record = await readControlRecord(dynamo, 'StateTable', 'extract');
 */
export async function readControlRecord(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  stage: Stage,
): Promise<StageControlRecord | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({ TableName: tableName, Key: controlKey(stage), ConsistentRead: true }),
  );
  if (Item === undefined) return undefined;
  return {
    stage,
    paused: Item.paused === true,
    by: Item.by === 'auto' ? 'auto' : 'operator',
    ...(typeof Item.reason === 'string' ? { reason: Item.reason } : {}),
    at: String(Item.at ?? ''),
  };
}

/**
 * Reads a stage's event source mapping.
 * @throws {StageControlError} naming the mapping when it cannot be read.
 * @example const mapping = await readMapping(lambda, 'extract', uuid);
 */
export async function readMapping(
  lambda: LambdaClient,
  stage: Stage,
  mappingId: string,
): Promise<EventSourceMappingConfiguration> {
  try {
    return await lambda.send(new GetEventSourceMappingCommand({ UUID: mappingId }));
  } catch (error) {
    throw new StageControlError(
      `cannot read the ${stage} stage's event source mapping ${mappingId}: ${errorText(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * Pauses or resumes a stage: disables or enables its event source mapping (unless it already is) and records who
 * did it and why. Idempotent: a paused stage stays paused, and its record changes only for a new reason or a new
 * `by` (an operator's pause takes over an automatic one, so the supervisor leaves it alone).
 * @throws {StageControlError} when the mapping cannot be read or changed, or the record not written.
 * @example await setStagePaused(clients, 'extract', uuid, 'pause', { by: 'operator', reason: 'provider outage', now: Date.now() });
 */
export async function setStagePaused(
  clients: StageControlClients,
  stage: Stage,
  mappingId: string,
  action: 'pause' | 'resume',
  options: StageControlOptions,
): Promise<StageControlOutcome> {
  const pausing = action === 'pause';
  const mapping = await readMapping(clients.lambda, stage, mappingId);
  const previousState = mapping.State ?? 'unknown';
  const already = pausing ? PAUSED_STATES.has(previousState) : RUNNING_STATES.has(previousState);
  let state = previousState;
  if (!already) {
    try {
      const updated = await clients.lambda.send(
        new UpdateEventSourceMappingCommand({ UUID: mappingId, Enabled: !pausing }),
      );
      state = updated.State ?? 'unknown';
    } catch (error) {
      const busy = /ResourceInUse|ResourceConflict/.test(errorText(error))
        ? ' (it is changing: try again shortly)'
        : '';
      throw new StageControlError(
        `cannot ${action} the ${stage} stage: updating its event source mapping ${mappingId} failed${busy}: ${errorText(error)}`,
        { cause: error },
      );
    }
  }

  const existing = await readControlRecord(clients.dynamo, clients.tableName, stage);
  const asked: StageControlRecord = {
    stage,
    paused: pausing,
    by: options.by,
    ...(options.reason === undefined ? {} : { reason: options.reason }),
    at: new Date(options.now).toISOString(),
  };
  const unchanged =
    already &&
    existing?.paused === pausing &&
    existing.by === options.by &&
    (options.reason === undefined || options.reason === existing.reason);
  if (unchanged) return { stage, action, changed: false, mappingId, previousState, state, control: existing };
  try {
    await clients.dynamo.send(
      new PutCommand({ TableName: clients.tableName, Item: { ...controlKey(stage), ...asked } }),
    );
  } catch (error) {
    throw new StageControlError(
      `the ${stage} stage's event source mapping is ${state}, but its control record could not be written: ${errorText(error)}`,
      { cause: error },
    );
  }
  return { stage, action, changed: !already, mappingId, previousState, state, control: asked };
}
