import {
  GetEventSourceMappingCommand,
  InvalidParameterValueException,
  LambdaClient,
  ListEventSourceMappingsCommand,
  ResourceNotFoundException,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { fixtureTemplate, messagesIn, sendBodies, withTempDir } from './support.ts';

/**
 * The local Lambda control API over the real `@aws-sdk/client-lambda`: the fixture stack's one mapping (batch
 * size 5, maximum concurrency 3, function reserved concurrency 4), read, listed and changed, with the poller
 * following every change.
 */

const MAPPING = 'ExtractFnSqsEventSourceIntakeQueue8F7E6D5C';
const WAIT = { timeout: 8_000, interval: 20 };

/** The fixture template with the mapping's UUID as an output, as the sluice stack declares it. */
function templateWithMappingOutput() {
  const template = fixtureTemplate();
  return {
    ...template,
    Outputs: { ...template.Outputs, ExtractEventSourceMappingId: { Value: { Ref: MAPPING } } },
  };
}

/** A handler whose invocations run until released, recording how many ran at once. */
class HeldHandler {
  active = 0;
  readonly concurrencyAtStart: number[] = [];
  readonly bodies: string[] = [];
  #releases: (() => void)[] = [];

  readonly handler = async (event: SQSEvent): Promise<undefined> => {
    this.active += 1;
    this.concurrencyAtStart.push(this.active);
    this.bodies.push(...event.Records.map((record) => record.body));
    await new Promise<void>((resolve) => this.#releases.push(resolve));
    this.active -= 1;
    return undefined;
  };

  releaseAll(): void {
    for (const release of this.#releases.splice(0)) release();
  }
}

interface Running {
  runtime: LocalRuntime;
  lambda: LambdaClient;
  sqs: SQSClient;
  held: HeldHandler;
  uuid: string;
}

let running: Running | undefined;

async function start(options: { dataDir?: string } = {}): Promise<Running> {
  const held = new HeldHandler();
  const runtime = await startLocalRuntime({
    template: templateWithMappingOutput(),
    stackName: 'Sluice',
    ...options,
    handlerFor: async () => held.handler,
  });
  running = {
    runtime,
    held,
    lambda: new LambdaClient(runtime.clientConfig('lambda')),
    sqs: new SQSClient(runtime.clientConfig('sqs')),
    uuid: runtime.outputs.ExtractEventSourceMappingId ?? '',
  };
  return running;
}

async function stop(): Promise<void> {
  const current = running;
  running = undefined;
  if (current === undefined) return;
  const stopping = current.runtime.stop();
  // Invocations still held would keep the pollers, hence the runtime, from stopping.
  const releasing = setInterval(() => current.held.releaseAll(), 10);
  try {
    await stopping;
  } finally {
    clearInterval(releasing);
    current.lambda.destroy();
    current.sqs.destroy();
  }
}

afterEach(stop);

/** Releases invocations as they come until `check` passes. */
async function drainUntil(held: HeldHandler, check: () => void | Promise<void>): Promise<void> {
  await vi.waitFor(async () => {
    held.releaseAll();
    await check();
  }, WAIT);
}

describe('Local Lambda control API', () => {
  it('gets and lists the mapping under the UUID the stack outputs give', async () => {
    // Prepare
    const { runtime, lambda, uuid } = await start();

    // Act
    const got = await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }));
    const listed = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: 'ExtractFn3B2A1C0D' }));
    const byQueue = await lambda.send(
      new ListEventSourceMappingsCommand({ EventSourceArn: runtime.outputs.IntakeQueueArn }),
    );
    const otherQueue = await lambda.send(
      new ListEventSourceMappingsCommand({ EventSourceArn: 'arn:aws:sqs:us-east-1:000000000000:Other' }),
    );

    // Assess
    expect(uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(got).toMatchObject({
      UUID: uuid,
      EventSourceArn: runtime.outputs.IntakeQueueArn,
      FunctionArn: 'arn:aws:lambda:us-east-1:000000000000:function:ExtractFn3B2A1C0D',
      BatchSize: 5,
      MaximumBatchingWindowInSeconds: 0,
      ScalingConfig: { MaximumConcurrency: 3 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      State: 'Enabled',
      EventSourceMappingArn: `arn:aws:lambda:us-east-1:000000000000:event-source-mapping:${uuid}`,
    });
    expect(got.LastModified).toBeInstanceOf(Date);
    expect(listed.EventSourceMappings?.map((mapping) => mapping.UUID)).toEqual([uuid]);
    expect(byQueue.EventSourceMappings?.map((mapping) => mapping.UUID)).toEqual([uuid]);
    expect(otherQueue.EventSourceMappings).toEqual([]);
  });

  it('stops the poller when the mapping is disabled and starts it again when it is enabled', async () => {
    // Prepare
    const { runtime, lambda, sqs, held, uuid } = await start();
    const [poller] = runtime.pollers;
    const intake = runtime.outputs.IntakeQueueUrl ?? '';
    runtime.start();

    // Act
    const disabling = await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
    await vi.waitFor(async () => {
      expect((await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }))).State).toBe('Disabled');
    }, WAIT);
    await sendBodies(sqs, intake, ['one', 'two', 'three']);

    // Assess: the poller receives nothing; the messages wait
    expect(disabling.State).toBe('Disabling');
    expect(poller?.running).toBe(false);
    expect(poller?.enabled).toBe(false);
    expect(await messagesIn(sqs, intake)).toBe(3);
    expect(held.bodies).toEqual([]);

    // Act
    const enabling = await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: true }));

    // Assess
    expect(enabling.State).toBe('Enabling');
    expect((await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }))).State).toBe('Enabled');
    await drainUntil(held, async () => expect(await messagesIn(sqs, intake)).toBe(0));
    expect(held.bodies.sort()).toEqual(['one', 'three', 'two']);
  });

  it('honours a maximum concurrency set through the API, capped by the reserved concurrency', async () => {
    // Prepare: more messages than any concurrency, so every worker always has one
    const { runtime, lambda, sqs, held, uuid } = await start();
    const [poller] = runtime.pollers;
    await sendBodies(
      sqs,
      runtime.outputs.IntakeQueueUrl ?? '',
      Array.from({ length: 150 }, (_, index) => `item-${index}`),
    );
    runtime.start();
    await vi.waitFor(() => expect(held.active).toBe(3), WAIT);

    // Act: lowered to 2
    const lowered = await lambda.send(
      new UpdateEventSourceMappingCommand({ UUID: uuid, ScalingConfig: { MaximumConcurrency: 2 } }),
    );
    const startedBefore = held.concurrencyAtStart.length;
    await drainUntil(held, () => expect(held.concurrencyAtStart.length).toBeGreaterThanOrEqual(startedBefore + 6));

    // Assess
    expect(lowered).toMatchObject({ State: 'Updating', ScalingConfig: { MaximumConcurrency: 2 } });
    expect(poller?.maxConcurrency).toBe(2);
    expect(Math.max(...held.concurrencyAtStart.slice(startedBefore))).toBeLessThanOrEqual(2);

    // Act: raised to 10, above the function's reserved concurrency of 4
    const raised = await lambda.send(
      new UpdateEventSourceMappingCommand({ UUID: uuid, ScalingConfig: { MaximumConcurrency: 10 } }),
    );

    // Assess
    await vi.waitFor(() => expect(held.active).toBe(4), WAIT);
    expect(raised.ScalingConfig).toEqual({ MaximumConcurrency: 10 });
    expect(poller?.maxConcurrency).toBe(4);
  });

  it("answers bad requests with AWS's errors and changes nothing", async () => {
    // Prepare
    const { runtime, lambda, uuid } = await start();
    const update = (input: Omit<ConstructorParameters<typeof UpdateEventSourceMappingCommand>[0], 'UUID'>) =>
      lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, ...input })).catch((error: unknown) => error);

    // Act
    const unknown = await lambda
      .send(new GetEventSourceMappingCommand({ UUID: '00000000-0000-4000-8000-000000000000' }))
      .catch((error: unknown) => error);
    const tooLow = await update({ ScalingConfig: { MaximumConcurrency: 1 } });
    const tooHigh = await update({ ScalingConfig: { MaximumConcurrency: 1001 } });
    const bigBatch = await update({ BatchSize: 20 });
    const filter = await update({ FilterCriteria: { Filters: [{ Pattern: '{}' }] } });

    // Assess
    expect(unknown).toBeInstanceOf(ResourceNotFoundException);
    expect((unknown as ResourceNotFoundException).$metadata.httpStatusCode).toBe(404);
    expect(tooLow).toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(
        /^1 validation error detected: Value '1' at 'scalingConfig\.maximumConcurrency' failed to satisfy constraint: Member must have value greater than or equal to 2$/,
      ),
      $metadata: { httpStatusCode: 400 },
    });
    expect(tooHigh).toMatchObject({
      name: 'ValidationException',
      message: expect.stringMatching(/Member must have value less than or equal to 1000/),
    });
    expect(bigBatch).toBeInstanceOf(InvalidParameterValueException);
    expect((bigBatch as Error).message).toMatch(
      /batch window .* greater than 0 if maximum batch size is greater than 10/,
    );
    expect(filter).toBeInstanceOf(InvalidParameterValueException);
    expect((filter as Error).message).toMatch(/FilterCriteria cannot be changed on the local runtime/);
    expect(await lambda.send(new GetEventSourceMappingCommand({ UUID: uuid }))).toMatchObject({
      BatchSize: 5,
      ScalingConfig: { MaximumConcurrency: 3 },
      State: 'Enabled',
    });
    expect(runtime.pollers[0]?.maxConcurrency).toBe(3);
  });

  it('accepts a big batch with a batching window, and removes the cap with an empty ScalingConfig', async () => {
    // Prepare
    const { runtime, lambda, uuid } = await start();

    // Act
    const updated = await lambda.send(
      new UpdateEventSourceMappingCommand({
        UUID: uuid,
        BatchSize: 20,
        MaximumBatchingWindowInSeconds: 2,
        ScalingConfig: {},
      }),
    );

    // Assess: without a cap, the function's reserved concurrency (4) is the limit
    expect(updated).toMatchObject({ BatchSize: 20, MaximumBatchingWindowInSeconds: 2 });
    expect(updated.ScalingConfig).toBeUndefined();
    expect(runtime.pollers[0]).toMatchObject({ batchSize: 20, maximumBatchingWindowSeconds: 2, maxConcurrency: 4 });
  });

  it('keeps what the API changed across a restart with a data directory', async () => {
    await withTempDir(async (dataDir) => {
      // Prepare
      const first = await start({ dataDir });
      await first.lambda.send(
        new UpdateEventSourceMappingCommand({
          UUID: first.uuid,
          Enabled: false,
          ScalingConfig: { MaximumConcurrency: 2 },
        }),
      );
      await stop();

      // Act
      const second = await start({ dataDir });
      const mapping = await second.lambda.send(new GetEventSourceMappingCommand({ UUID: second.uuid }));

      // Assess
      expect(second.uuid).toBe(first.uuid);
      expect(mapping).toMatchObject({ State: 'Disabled', ScalingConfig: { MaximumConcurrency: 2 } });
      second.runtime.start();
      expect(second.runtime.pollers[0]).toMatchObject({ enabled: false, running: false, maxConcurrency: 2 });
    });
  });
});
