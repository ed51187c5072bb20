import { randomUUID } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  DescribeSecretCommand,
  GetSecretValueCommand,
  InvalidParameterException,
  InvalidRequestException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  RestoreSecretCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { localCredentials } from '#lib/outputs.ts';
import { LocalSecretsManager } from '#local/control-plane/secrets-manager.ts';
import { type LambdaControlServer, startLambdaControlServer } from '#local/control-plane/server.ts';
import { type DevRuntime, startDevRuntime } from '#local/dev-runtime.ts';
import { LOCAL_ACCOUNT_ID } from '#local/emulators.ts';
import { createLambdaContext } from '#local/lambda-context.ts';
import type { SqsFunctionHandler } from '#local/poller.ts';
import { itemKey } from '#shared/table-keys.ts';
import { TEST_CONFIG } from '../support/pipeline.ts';
import { withTempDir } from './support.ts';

/**
 * The local Secrets Manager over the real `@aws-sdk/client-secrets-manager` and Powertools' SecretsProvider, and
 * `sluice dev` putting the API key in the stack's secret, which the stage handlers read as they do on AWS.
 */

const REGION = 'us-east-1';

interface Served {
  server: LambdaControlServer;
  client: SecretsManagerClient;
  stop(): Promise<void>;
}

const started: Served[] = [];

async function serve(options: { file?: string; clock?: () => number } = {}): Promise<Served> {
  const secrets = await LocalSecretsManager.open({ region: REGION, accountId: LOCAL_ACCOUNT_ID, ...options });
  const server = await startLambdaControlServer({ secrets });
  const client = new SecretsManagerClient({
    endpoint: server.endpoint,
    region: REGION,
    credentials: localCredentials(),
  });
  const served: Served = {
    server,
    client,
    stop: async () => {
      client.destroy();
      await secrets.flush();
      await server.stop();
    },
  };
  started.push(served);
  return served;
}

afterEach(async () => {
  await Promise.all(started.splice(0).map((served) => served.stop()));
});

describe('Class: LocalSecretsManager', () => {
  describe('Method: call, through @aws-sdk/client-secrets-manager', () => {
    it('creates, reads, updates and deletes a secret', async () => {
      // Prepare
      const { client } = await serve();

      // Act
      const created = await client.send(
        new CreateSecretCommand({ Name: 'prod/llm-key', SecretString: 'sk-first', Description: 'the LLM key' }),
      );
      const first = await client.send(new GetSecretValueCommand({ SecretId: 'prod/llm-key' }));
      const put = await client.send(new PutSecretValueCommand({ SecretId: created.ARN, SecretString: 'sk-second' }));
      const second = await client.send(new GetSecretValueCommand({ SecretId: created.ARN }));
      const previous = await client.send(
        new GetSecretValueCommand({ SecretId: 'prod/llm-key', VersionStage: 'AWSPREVIOUS' }),
      );
      const described = await client.send(new DescribeSecretCommand({ SecretId: created.ARN }));
      const deleted = await client.send(
        new DeleteSecretCommand({ SecretId: created.ARN, ForceDeleteWithoutRecovery: true }),
      );
      const afterDelete = client.send(new GetSecretValueCommand({ SecretId: created.ARN }));

      // Assess
      expect(created.ARN).toMatch(
        /^arn:aws:secretsmanager:us-east-1:000000000000:secret:prod\/llm-key-[A-Za-z0-9]{6}$/,
      );
      expect(first).toMatchObject({
        ARN: created.ARN,
        Name: 'prod/llm-key',
        SecretString: 'sk-first',
        VersionId: created.VersionId,
        VersionStages: ['AWSCURRENT'],
      });
      expect(first.CreatedDate).toBeInstanceOf(Date);
      expect(put.VersionStages).toEqual(['AWSCURRENT']);
      expect(second).toMatchObject({ SecretString: 'sk-second', VersionId: put.VersionId });
      expect(previous).toMatchObject({ SecretString: 'sk-first', VersionStages: ['AWSPREVIOUS'] });
      expect(described).toMatchObject({
        ARN: created.ARN,
        Name: 'prod/llm-key',
        Description: 'the LLM key',
        VersionIdsToStages: { [created.VersionId ?? '']: ['AWSPREVIOUS'], [put.VersionId ?? '']: ['AWSCURRENT'] },
      });
      expect(deleted).toMatchObject({ ARN: created.ARN, Name: 'prod/llm-key' });
      await expect(afterDelete).rejects.toBeInstanceOf(ResourceNotFoundException);
    });

    it('answers a missing secret with ResourceNotFoundException, as AWS does', async () => {
      // Prepare
      const { client } = await serve();

      // Act
      const error = await client
        .send(
          new GetSecretValueCommand({ SecretId: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:nope-AbC123' }),
        )
        .catch((caught: unknown) => caught);

      // Assess
      expect(error).toBeInstanceOf(ResourceNotFoundException);
      expect(error).toMatchObject({
        name: 'ResourceNotFoundException',
        message: "Secrets Manager can't find the specified secret.",
        $metadata: { httpStatusCode: 400 },
      });
    });

    it('refuses what AWS refuses: a second secret of a name, two values at once, a short recovery window', async () => {
      // Prepare
      const { client } = await serve();
      await client.send(new CreateSecretCommand({ Name: 'key', SecretString: 'one' }));

      // Act
      const twice = client.send(new CreateSecretCommand({ Name: 'key', SecretString: 'two' }));
      const both = client.send(
        new CreateSecretCommand({ Name: 'other', SecretString: 'x', SecretBinary: Buffer.from('y') }),
      );
      const shortWindow = client.send(new DeleteSecretCommand({ SecretId: 'key', RecoveryWindowInDays: 3 }));

      // Assess
      await expect(twice).rejects.toBeInstanceOf(ResourceExistsException);
      await expect(both).rejects.toBeInstanceOf(InvalidParameterException);
      await expect(shortWindow).rejects.toThrow(/RecoveryWindowInDays value must be between 7 and 30/);
    });

    it('keeps a deleted secret through its recovery window: unreadable, restorable, then gone', async () => {
      // Prepare
      let now = Date.parse('2026-11-21T08:00:00Z');
      const { client } = await serve({ clock: () => now });
      const { ARN } = await client.send(new CreateSecretCommand({ Name: 'key', SecretString: 'sk-kept' }));

      // Act: deleted with a 7-day window, then restored
      const deleted = await client.send(new DeleteSecretCommand({ SecretId: ARN, RecoveryWindowInDays: 7 }));
      const whileDeleted = await client.send(new GetSecretValueCommand({ SecretId: ARN })).catch((e: unknown) => e);
      const describedWhileDeleted = await client.send(new DescribeSecretCommand({ SecretId: ARN }));
      await client.send(new RestoreSecretCommand({ SecretId: ARN }));
      const restored = await client.send(new GetSecretValueCommand({ SecretId: ARN }));

      // Assess
      expect(deleted.DeletionDate).toEqual(new Date('2026-11-28T08:00:00Z'));
      expect(whileDeleted).toBeInstanceOf(InvalidRequestException);
      expect(describedWhileDeleted.DeletedDate).toEqual(new Date('2026-11-28T08:00:00Z'));
      expect(restored.SecretString).toBe('sk-kept');

      // Act: deleted again, and the window passes
      await client.send(new DeleteSecretCommand({ SecretId: ARN, RecoveryWindowInDays: 7 }));
      now += 7 * 86_400_000;

      // Assess
      await expect(client.send(new DescribeSecretCommand({ SecretId: ARN }))).rejects.toBeInstanceOf(
        ResourceNotFoundException,
      );
    });

    it('stores binary secrets and answers a retried put with the same token once', async () => {
      // Prepare
      const { client } = await serve();
      await client.send(new CreateSecretCommand({ Name: 'cert', SecretBinary: Buffer.from([0, 1, 2, 250]) }));
      const token = randomUUID();

      // Act
      const binary = await client.send(new GetSecretValueCommand({ SecretId: 'cert' }));
      const put = await client.send(
        new PutSecretValueCommand({ SecretId: 'cert', SecretString: 'text now', ClientRequestToken: token }),
      );
      const retried = await client.send(
        new PutSecretValueCommand({ SecretId: 'cert', SecretString: 'text now', ClientRequestToken: token }),
      );
      const conflicting = client.send(
        new PutSecretValueCommand({ SecretId: 'cert', SecretString: 'other', ClientRequestToken: token }),
      );

      // Assess
      expect([...(binary.SecretBinary ?? [])]).toEqual([0, 1, 2, 250]);
      expect(binary.SecretString).toBeUndefined();
      expect(put.VersionId).toBe(token);
      expect(retried.VersionId).toBe(token);
      await expect(conflicting).rejects.toBeInstanceOf(ResourceExistsException);
    });

    it('serves Powertools SecretsProvider, the stages read path', async () => {
      // Prepare
      const { client } = await serve();
      await client.send(new CreateSecretCommand({ Name: 'llm', SecretString: '{"apiKey":"sk-json"}' }));
      const provider = new SecretsProvider({ awsSdkV3Client: client });

      // Act
      const value = await provider.get('llm', { transform: 'json' });

      // Assess
      expect(value).toEqual({ apiKey: 'sk-json' });
    });
  });

  describe('Method: seed', () => {
    it("creates the stack's secret under its ARN, and overwrites or undeletes it on the next start", async () => {
      // Prepare
      const secrets = await LocalSecretsManager.open({ region: REGION, accountId: LOCAL_ACCOUNT_ID });
      const arn = `arn:aws:secretsmanager:${REGION}:${LOCAL_ACCOUNT_ID}:secret:ApiKeySecretB7E2C9D1-local`;

      // Act
      await secrets.seed(arn, 'sk-first');
      const first = await secrets.call('GetSecretValue', { SecretId: arn });
      await secrets.call('PutSecretValue', { SecretId: arn, SecretString: 'changed by hand' });
      await secrets.call('DeleteSecret', { SecretId: arn });
      await secrets.seed(arn, 'sk-second');
      const second = await secrets.call('GetSecretValue', { SecretId: 'ApiKeySecretB7E2C9D1' });

      // Assess
      expect(first).toMatchObject({ ARN: arn, Name: 'ApiKeySecretB7E2C9D1', SecretString: 'sk-first' });
      expect(second).toMatchObject({ ARN: arn, SecretString: 'sk-second', VersionStages: ['AWSCURRENT'] });
    });
  });

  describe('Method: open, with a file', () => {
    it('keeps secrets across restarts, in a file only its user can read', async () => {
      await withTempDir(async (dir) => {
        // Prepare
        const file = join(dir, 'secrets', 'secrets.json');
        const first = await serve({ file });
        const { ARN } = await first.client.send(new CreateSecretCommand({ Name: 'kept', SecretString: 'sk-1' }));
        await first.client.send(new PutSecretValueCommand({ SecretId: 'kept', SecretString: 'sk-2' }));
        await first.client.send(new CreateSecretCommand({ Name: 'dropped', SecretString: 'x' }));
        await first.client.send(new DeleteSecretCommand({ SecretId: 'dropped', ForceDeleteWithoutRecovery: true }));
        await first.stop();
        started.splice(started.indexOf(first), 1);

        // Act
        const second = await serve({ file });
        const value = await second.client.send(new GetSecretValueCommand({ SecretId: ARN }));
        const dropped = second.client.send(new GetSecretValueCommand({ SecretId: 'dropped' }));

        // Assess
        expect(value.SecretString).toBe('sk-2');
        await expect(dropped).rejects.toBeInstanceOf(ResourceNotFoundException);
        expect((await stat(file)).mode & 0o777).toBe(0o600);
        expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ secrets: [{ name: 'kept', arn: ARN }] });
      });
    });

    it('refuses a file that is not a store, naming it', async () => {
      await withTempDir(async (dir) => {
        // Prepare
        const file = join(dir, 'secrets.json');
        await import('node:fs/promises').then((fs) => fs.writeFile(file, '{"not": "a store"}'));

        // Act
        const opening = LocalSecretsManager.open({ region: REGION, accountId: LOCAL_ACCOUNT_ID, file });

        // Assess
        await expect(opening).rejects.toThrow(`${file} is not a store of the local Secrets Manager`);
      });
    });
  });
});

describe('sluice dev: the API key secret', () => {
  let dev: DevRuntime;
  let client: SecretsManagerClient;
  const handlers = new Map<string, SqsFunctionHandler>();

  const article = (id: string) =>
    JSON.stringify({
      id,
      title: `Example Corp news ${id}`,
      body: `Example Corp opened an office in Berlin on Tuesday (${id}), the company said in a statement.`,
    });

  /** Invokes a stage's handler with one record, as the event source would. */
  const invoke = async (stage: 'extract' | 'draft', body: string): Promise<SQSBatchResponse> => {
    const handler = handlers.get(stage);
    if (handler === undefined) throw new Error(`no ${stage} handler was built`);
    const now = Date.now();
    const event: SQSEvent = {
      Records: [
        {
          messageId: randomUUID(),
          receiptHandle: randomUUID(),
          body,
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: String(now),
            SenderId: 'test',
            ApproximateFirstReceiveTimestamp: String(now),
          },
          messageAttributes: {},
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: (stage === 'extract' ? dev.outputs.IntakeQueueArn : dev.outputs.DraftQueueArn) ?? '',
          awsRegion: REGION,
        },
      ],
    };
    const context = createLambdaContext({
      functionName: stage,
      functionArn: `arn:aws:lambda:${REGION}:${LOCAL_ACCOUNT_ID}:function:${stage}`,
      memoryMb: 512,
      deadline: now + 10_000,
    });
    return (await handler(event, context)) as SQSBatchResponse;
  };
  const invokeExtract = (body: string) => invoke('extract', body);
  const emf: string[] = [];
  /** The values a stage emitted for a metric. */
  const metric = (name: string, stage: string) =>
    emf
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.stage === stage && name in entry)
      .map((entry) => entry[name]);

  const item = async (id: string) =>
    (
      await dev.dynamo.send(
        new GetCommand({ TableName: dev.outputs.StateTableName, Key: itemKey(id), ConsistentRead: true }),
      )
    ).Item;

  beforeAll(async () => {
    // The simulator as provider, and no LLM client override: the handlers build their own, keyed by the secret.
    dev = await startDevRuntime({
      config: TEST_CONFIG,
      logLevel: 'SILENT',
      emf: (line) => emf.push(line),
      onHandler: (stage, handler) => handlers.set(stage, handler),
    });
    client = new SecretsManagerClient(dev.local.clientConfig('secretsmanager'));
  });

  afterAll(async () => {
    client?.destroy();
    await dev?.stop();
  });

  it('puts the simulator key in the stack secret at start', async () => {
    // Act
    const value = await client.send(new GetSecretValueCommand({ SecretId: dev.outputs.ApiKeySecretArn }));

    // Assess
    expect(value).toMatchObject({ ARN: dev.outputs.ApiKeySecretArn, SecretString: 'sluice-local-simulator' });
    expect(dev.local.endpoints.secretsmanager).toBe(dev.local.endpoints.lambda);
  });

  it('makes items wait while the secret is deleted, none dead-lettered, and publishes them once it is restored', async () => {
    // Prepare
    const secretArn = dev.outputs.ApiKeySecretArn ?? '';
    await client.send(new DeleteSecretCommand({ SecretId: secretArn, RecoveryWindowInDays: 7 }));
    const ids = ['secret-gone-1', 'secret-gone-2', 'secret-gone-3'];

    // Act: every item meets the unreadable secret, more often than its failure budget
    const outcomes: SQSBatchResponse[] = [];
    for (let delivery = 0; delivery < 4; delivery += 1) {
      for (const id of ids) outcomes.push(await invokeExtract(article(id)));
    }

    // Assess: the configuration outage is not the items' fault: they wait, counted, and the provider saw nothing
    expect(outcomes.flatMap((outcome) => outcome.batchItemFailures)).toEqual([]);
    for (const id of ids) {
      const waiting = await item(id);
      expect(waiting?.state).toBe('EXTRACTING');
      expect(waiting?.deadLetter).toBeUndefined();
      expect(waiting?.attempts?.extract).toBe(0);
      expect(waiting?.deferrals).toBe(4);
    }
    expect(metric('SecretUnavailable', 'extract').reduce((sum: number, n) => sum + Number(n), 0)).toBe(12);
    expect(dev.simulator?.stats().requestsReceived).toBe(0);

    // Act: the secret is restored; the items' messages come back
    await client.send(new RestoreSecretCommand({ SecretId: secretArn }));
    for (const id of ids) {
      await invokeExtract(article(id));
      await invoke('draft', JSON.stringify({ itemId: id }));
    }

    // Assess
    for (const id of ids) expect((await item(id))?.state).toBe('PUBLISHED');
  });
});
