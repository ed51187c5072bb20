import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CreateTableCommand, DescribeTableCommand, PutItemCommand, QueryCommand } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { LOCAL_ACCOUNT_ID } from '#local/emulators.ts';
import { createLocalResources, type LocalDeployment, LocalResourceError, writeOutputsFile } from '#local/resources.ts';
import { parseTemplate } from '#local/template.ts';
import { fixtureTemplate, messagesIn, startTestEmulators, type TestEmulators, withTempDir } from './support.ts';

const STACK = 'Sluice';

describe('Function: createLocalResources', () => {
  let env: TestEmulators;
  let deployment: LocalDeployment;
  const create = (template: object = fixtureTemplate()) =>
    createLocalResources({
      description: parseTemplate(template),
      stackName: STACK,
      sqs: env.sqs,
      dynamodb: env.dynamodb,
      sqsEndpoint: env.emulators.sqsEndpoint,
      region: env.emulators.region,
      accountId: LOCAL_ACCOUNT_ID,
    });
  const queue = (logicalId: string) => {
    const found = deployment.queues.find((candidate) => candidate.logicalId === logicalId);
    if (found === undefined) {
      throw new Error(`no queue ${logicalId}`);
    }
    return found;
  };

  beforeAll(async () => {
    env = await startTestEmulators();
    deployment = await create();
  });
  afterAll(async () => {
    await env.stop();
  });

  it('creates every queue, named by its logical id, with the redrive policy pointing at the local DLQ', async () => {
    // Act
    const { Attributes = {} } = await env.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queue('IntakeQueue0C4A7E19').url, AttributeNames: ['All'] }),
    );

    // Assess
    expect(deployment.queues.map((created) => created.name).sort()).toEqual([
      'DraftDlqA1B2C3D4',
      'DraftQueue9E8D7C6B',
      'IntakeDlq5F3A8D2B',
      'IntakeQueue0C4A7E19',
    ]);
    expect(Attributes.VisibilityTimeout).toBe('360');
    expect(JSON.parse(Attributes.RedrivePolicy ?? '{}')).toEqual({
      deadLetterTargetArn: queue('IntakeDlq5F3A8D2B').arn,
      maxReceiveCount: 5,
    });
    expect(Attributes.QueueArn).toBe(queue('IntakeQueue0C4A7E19').arn);
  });

  it('creates the table with its index, active', async () => {
    // Act
    const { Table } = await env.dynamodb.send(new DescribeTableCommand({ TableName: 'StateTable6C1E0A2F' }));

    // Assess
    expect(Table?.TableStatus).toBe('ACTIVE');
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.GlobalSecondaryIndexes?.map((index) => [index.IndexName, index.IndexStatus])).toEqual([
      ['byState', 'ACTIVE'],
    ]);
  });

  it('resolves the function environment to local values that work with the SDK', async () => {
    // Prepare
    const [fn] = deployment.functions;

    // Act
    await env.sqs.send(new SendMessageCommand({ QueueUrl: fn?.environment.NEXT_QUEUE_URL, MessageBody: 'next' }));

    // Assess
    expect(fn?.environment).toEqual({
      STATE_TABLE_NAME: 'StateTable6C1E0A2F',
      NEXT_QUEUE_URL: `${env.emulators.sqsEndpoint}/${LOCAL_ACCOUNT_ID}/DraftQueue9E8D7C6B`,
      DLQ_URL: `${env.emulators.sqsEndpoint}/${LOCAL_ACCOUNT_ID}/IntakeDlq5F3A8D2B`,
      LLM_API_KEY_SECRET_ARN: `arn:aws:secretsmanager:us-east-1:${LOCAL_ACCOUNT_ID}:secret:ApiKeySecretB7E2C9D1-local`,
      SLUICE_RUNTIME_CONFIG: '{"stage":"extract"}',
      POWERTOOLS_SERVICE_NAME: 'sluice',
      AWS_NODEJS_CONNECTION_REUSE_ENABLED: '1',
    });
    expect(fn).toMatchObject({ functionName: 'ExtractFn3B2A1C0D', timeoutSeconds: 60, memoryMb: 512 });
    expect(await messagesIn(env.sqs, queue('DraftQueue9E8D7C6B').url)).toBe(1);
  });

  it('resolves every output to its local value', () => {
    // Assess
    expect(deployment.outputs).toEqual({
      IntakeQueueUrl: queue('IntakeQueue0C4A7E19').url,
      IntakeQueueArn: `arn:aws:sqs:us-east-1:${LOCAL_ACCOUNT_ID}:IntakeQueue0C4A7E19`,
      IntakeDlqName: 'IntakeDlq5F3A8D2B',
      StateTableName: 'StateTable6C1E0A2F',
      StateTableArn: `arn:aws:dynamodb:us-east-1:${LOCAL_ACCOUNT_ID}:table/StateTable6C1E0A2F`,
      ExtractFunctionName: 'ExtractFn3B2A1C0D',
      AlarmTopicArn: `arn:aws:sns:us-east-1:${LOCAL_ACCOUNT_ID}:topic/AlarmTopic2D3E4F5A`,
      DashboardUrl: 'https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#dashboards:name=Sluice',
      SqsServiceHost: 'sqs.us-east-1.amazonaws.com',
      DraftQueueName: 'DraftQueue9E8D7C6B',
    });
  });

  it('caps the event source concurrency by the function reserved concurrency', () => {
    // Assess
    expect(deployment.eventSources).toEqual([
      {
        logicalId: 'ExtractFnSqsEventSourceIntakeQueue8F7E6D5C',
        uuid: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
        functionLogicalId: 'ExtractFn3B2A1C0D',
        queueLogicalId: 'IntakeQueue0C4A7E19',
        queueUrl: queue('IntakeQueue0C4A7E19').url,
        queueArn: queue('IntakeQueue0C4A7E19').arn,
        batchSize: 5,
        maximumConcurrency: 3,
        maxConcurrency: 3,
        reportBatchItemFailures: true,
        maximumBatchingWindowSeconds: 0,
        enabled: true,
      },
    ]);
  });

  it('resolves Ref of an event source mapping to its UUID, the same on every run', async () => {
    // Prepare
    const template = fixtureTemplate();
    const withOutput = {
      ...template,
      Outputs: {
        ...template.Outputs,
        ExtractEventSourceMappingId: { Value: { Ref: 'ExtractFnSqsEventSourceIntakeQueue8F7E6D5C' } },
      },
    };

    // Act
    const again = await create(withOutput);

    // Assess
    expect(again.outputs.ExtractEventSourceMappingId).toBe(deployment.eventSources[0]?.uuid);
    expect(again.eventSources[0]?.uuid).toBe(deployment.eventSources[0]?.uuid);
  });

  it('notes what it does not emulate', () => {
    // Assess
    expect(deployment.notes).toEqual(
      expect.arrayContaining([
        'StateTable6C1E0A2F: TTL on "expiresAt" is emulated by an hourly sweep (AWS deletes within days)',
        'StateTable6C1E0A2F: point-in-time recovery is not emulated',
      ]),
    );
  });

  it('reuses existing queues and tables, keeping their messages', async () => {
    // Prepare
    const intake = queue('IntakeQueue0C4A7E19').url;
    await env.sqs.send(new SendMessageCommand({ QueueUrl: intake, MessageBody: 'kept' }));

    // Act
    const again = await create();

    // Assess
    expect(again.outputs).toEqual(deployment.outputs);
    expect(await messagesIn(env.sqs, intake)).toBe(1);
  });

  it('adds an index the template gained to a kept table, as CloudFormation does, filled from its items', async () => {
    // Prepare: an item written before the template had the index, and a template with a second, sparse one
    const TableName = 'StateTable6C1E0A2F';
    await env.dynamodb.send(
      new PutItemCommand({
        TableName,
        Item: { pk: { S: 'ITEM#kept' }, sk: { S: 'ITEM' }, waiting: { S: 'yes' }, updatedAt: { N: '1' } },
      }),
    );
    const template = fixtureTemplate();
    const properties = template.Resources.StateTable6C1E0A2F.Properties;
    properties.AttributeDefinitions.push({ AttributeName: 'waiting', AttributeType: 'S' });
    properties.GlobalSecondaryIndexes.push({
      IndexName: 'Waiting',
      KeySchema: [
        { AttributeName: 'waiting', KeyType: 'HASH' },
        { AttributeName: 'updatedAt', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    });

    // Act
    await create(template);
    await env.dynamodb.send(
      new PutItemCommand({
        TableName,
        Item: { pk: { S: 'ITEM#new' }, sk: { S: 'ITEM' }, waiting: { S: 'yes' }, updatedAt: { N: '2' } },
      }),
    );

    // Assess: both items listed, the kept one by the backfill, the new one as it was written
    const { Items } = await env.dynamodb.send(
      new QueryCommand({
        TableName,
        IndexName: 'Waiting',
        KeyConditionExpression: 'waiting = :yes',
        ExpressionAttributeValues: { ':yes': { S: 'yes' } },
      }),
    );
    expect(Items?.map((item) => item.pk?.S)).toEqual(['ITEM#kept', 'ITEM#new']);
  });

  it('refuses a kept table whose keys no longer match the template', async () => {
    // Prepare
    await env.dynamodb.send(
      new CreateTableCommand({
        TableName: 'MemoryTable',
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const template = fixtureTemplate();
    const changed = {
      ...template,
      Resources: {
        ...template.Resources,
        MemoryTable: {
          Type: 'AWS::DynamoDB::Table',
          Properties: {
            KeySchema: [{ AttributeName: 'topic', KeyType: 'HASH' }],
            AttributeDefinitions: [{ AttributeName: 'topic', AttributeType: 'S' }],
            BillingMode: 'PAY_PER_REQUEST',
          },
        },
      },
    };

    // Act
    const act = create(changed);

    // Assess
    await expect(act).rejects.toThrow(LocalResourceError);
    await expect(act).rejects.toThrow(/table MemoryTable kept from an earlier run has keys/);
  });
});

describe('Function: writeOutputsFile', () => {
  it('writes the shape cdk deploy --outputs-file writes', async () => {
    await withTempDir(async (dir) => {
      // Prepare
      const file = join(dir, 'nested', 'outputs.json');

      // Act
      await writeOutputsFile(file, STACK, { IntakeQueueUrl: 'http://127.0.0.1:1/000000000000/Intake' });

      // Assess
      const written = z
        .record(z.string(), z.record(z.string(), z.string()))
        .parse(JSON.parse(await readFile(file, 'utf8')));
      expect(written).toEqual({ Sluice: { IntakeQueueUrl: 'http://127.0.0.1:1/000000000000/Intake' } });
    });
  });
});
