import {
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ResourceNotFoundException,
} from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { fixtureTemplate } from './support.ts';

/**
 * GetFunctionConfiguration and GetFunction on the local Lambda control API, over the real `@aws-sdk/client-lambda`:
 * the fixture stack's one function, with its environment as resolved locally.
 */

const FUNCTION = 'ExtractFn3B2A1C0D';
const FUNCTION_ARN = `arn:aws:lambda:us-east-1:000000000000:function:${FUNCTION}`;

describe('Local Lambda control API: functions', () => {
  let runtime: LocalRuntime;
  let lambda: LambdaClient;

  beforeAll(async () => {
    runtime = await startLocalRuntime({
      template: fixtureTemplate(),
      stackName: 'Sluice',
      handlerFor: async () => async () => undefined,
    });
    lambda = new LambdaClient(runtime.clientConfig('lambda'));
  });

  afterAll(async () => {
    lambda?.destroy();
    await runtime?.stop();
  });

  it('describes a function by name, ARN or qualified name, with its environment resolved locally', async () => {
    // Act
    const byName = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FUNCTION }));
    const byArn = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FUNCTION_ARN }));
    const qualified = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: FUNCTION, Qualifier: '$LATEST' }),
    );

    // Assess
    expect(byName).toMatchObject({
      FunctionName: FUNCTION,
      FunctionArn: FUNCTION_ARN,
      Runtime: 'nodejs24.x',
      Handler: 'index.handler',
      Role: 'arn:aws:iam::000000000000:role/ExtractFnServiceRoleD4A1B0C9',
      Timeout: 60,
      MemorySize: 512,
      State: 'Active',
      LastUpdateStatus: 'Successful',
      Architectures: ['arm64'],
      Version: '$LATEST',
      Environment: {
        Variables: {
          SLUICE_RUNTIME_CONFIG: '{"stage":"extract"}',
          NEXT_QUEUE_URL: runtime.deployment.queues.find((queue) => queue.logicalId === 'DraftQueue9E8D7C6B')?.url,
          LLM_API_KEY_SECRET_ARN: runtime.deployment.secrets[0]?.arn,
        },
      },
    });
    const { $metadata: _metadata, ...configuration } = byName;
    expect(byArn).toMatchObject(configuration);
    expect(qualified).toMatchObject(configuration);
  });

  it('gets a function with its reserved concurrency', async () => {
    // Act
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: FUNCTION }));

    // Assess
    expect(got.Configuration?.FunctionArn).toBe(FUNCTION_ARN);
    expect(got.Concurrency).toEqual({ ReservedConcurrentExecutions: 4 });
  });

  it('answers ResourceNotFoundException for a function the stack does not have, or a published version', async () => {
    // Act
    const unknown = lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'NoSuchFunction' }));
    const version = lambda.send(new GetFunctionConfigurationCommand({ FunctionName: FUNCTION, Qualifier: '3' }));

    // Assess
    await expect(unknown).rejects.toBeInstanceOf(ResourceNotFoundException);
    await expect(unknown).rejects.toThrow('Function not found: NoSuchFunction');
    await expect(version).rejects.toThrow(`Function not found: ${FUNCTION_ARN}:3`);
  });
});
