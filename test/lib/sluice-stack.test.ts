import { describe, expect, it } from 'vitest';
import { SHIPPED_STAGES as STAGES } from '#functions/pipeline.ts';
import { loadConfig } from '#lib/config.ts';
import { runtimeConfigSchema, type Stage, stageEnvironmentSchema } from '#shared/runtime-config.ts';
import { resourcesOfType, type SynthesizedStack, synthesizeStack, type TemplateResource } from './stack-fixture.ts';

const defaults = synthesizeStack();

interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

function props(resource: TemplateResource | undefined): Record<string, unknown> {
  if (resource === undefined) throw new Error('resource not found');
  return resource.Properties ?? {};
}

/** Logical id behind `{ 'Fn::GetAtt': [id, 'Arn'] }` or `{ Ref: id }`. */
function referencedId(value: unknown): string {
  const reference = value as { 'Fn::GetAtt'?: [string, string]; Ref?: string };
  const id = reference['Fn::GetAtt']?.[0] ?? reference.Ref;
  if (id === undefined) throw new Error(`not a reference: ${JSON.stringify(value)}`);
  return id;
}

function stageIds(synth: SynthesizedStack, stage: Stage) {
  const construct = synth.stack.stage(stage);
  return {
    function: synth.logicalId(construct.function),
    role: synth.logicalId(construct.function.role ?? construct.function),
    queue: synth.logicalId(construct.queue),
    deadLetterQueue: synth.logicalId(construct.deadLetterQueue),
  };
}

function functionOf(synth: SynthesizedStack, stage: Stage): Record<string, unknown> {
  return props(resourcesOfType(synth.template, 'AWS::Lambda::Function')[stageIds(synth, stage).function]);
}

/** Logical id of the stage's event source mapping: the one whose FunctionName is the stage's function. */
function eventSourceIdOf(synth: SynthesizedStack, stage: Stage): string {
  const functionId = stageIds(synth, stage).function;
  const ids = Object.entries(resourcesOfType(synth.template, 'AWS::Lambda::EventSourceMapping'))
    .filter(([, mapping]) => referencedId(props(mapping).FunctionName) === functionId)
    .map(([id]) => id);
  expect(ids).toHaveLength(1);
  return ids[0] ?? '';
}

function eventSourceOf(synth: SynthesizedStack, stage: Stage): Record<string, unknown> {
  return props(resourcesOfType(synth.template, 'AWS::Lambda::EventSourceMapping')[eventSourceIdOf(synth, stage)]);
}

function environmentOf(synth: SynthesizedStack, stage: Stage): Record<string, unknown> {
  return (functionOf(synth, stage).Environment as { Variables: Record<string, unknown> }).Variables;
}

function statementsOf(synth: SynthesizedStack, stage: Stage): PolicyStatement[] {
  const roleId = stageIds(synth, stage).role;
  return Object.values(resourcesOfType(synth.template, 'AWS::IAM::Policy'))
    .filter((policy) => (props(policy).Roles as unknown[]).some((role) => referencedId(role) === roleId))
    .flatMap((policy) => (props(policy).PolicyDocument as { Statement: PolicyStatement[] }).Statement);
}

function actionsOf(statement: PolicyStatement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function resourcesOf(statement: PolicyStatement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

describe('Construct: SluiceStack', () => {
  describe('concurrency (the semaphore)', () => {
    it.each(STAGES)('gives the %s function reserved concurrency and caps its event source below it', (stage) => {
      // Prepare
      const settings = loadConfig({}).stages[stage];

      // Act
      const fn = functionOf(defaults, stage);
      const source = eventSourceOf(defaults, stage);

      // Assess
      const reserved = fn.ReservedConcurrentExecutions as number;
      const maximum = (source.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency;
      expect(reserved).toBe(settings?.reservedConcurrency);
      expect(maximum).toBe(settings?.maxConcurrency);
      expect(maximum).toBeGreaterThanOrEqual(2);
      expect(maximum).toBeLessThanOrEqual(reserved);
      expect(source.BatchSize).toBe(settings?.batchSize);
      expect(source.FunctionResponseTypes).toEqual(['ReportBatchItemFailures']);
    });

    it('applies the configured concurrency and batch size', () => {
      // Act
      const synth = synthesizeStack({
        stages: { draft: { reservedConcurrency: 12, maxConcurrency: 7, batchSize: 4 } },
      });

      // Assess
      expect(functionOf(synth, 'draft').ReservedConcurrentExecutions).toBe(12);
      expect(eventSourceOf(synth, 'draft')).toMatchObject({ BatchSize: 4, ScalingConfig: { MaximumConcurrency: 7 } });
    });

    it('reserves no concurrency when reservation is switched off, keeping the event source cap', () => {
      // Act
      const synth = synthesizeStack({ reservedConcurrencyEnabled: false, stages: { extract: { maxConcurrency: 20 } } });

      // Assess
      for (const stage of STAGES) {
        expect(functionOf(synth, stage)).not.toHaveProperty('ReservedConcurrentExecutions');
      }
      expect(eventSourceOf(synth, 'extract')).toMatchObject({ ScalingConfig: { MaximumConcurrency: 20 } });
      expect(eventSourceOf(synth, 'draft')).toMatchObject({ ScalingConfig: { MaximumConcurrency: 3 } });
    });
  });

  describe('queues', () => {
    it('gives each of the intake, draft and published queues a DLQ that allows redrive', () => {
      // Prepare
      const queues = resourcesOfType(defaults.template, 'AWS::SQS::Queue');
      const sources = Object.values(queues).filter((queue) => props(queue).RedrivePolicy !== undefined);

      // Act
      const deadLetterIds = sources.map((queue) => {
        const policy = props(queue).RedrivePolicy as { deadLetterTargetArn: unknown; maxReceiveCount: number };
        expect(policy.maxReceiveCount).toBeGreaterThanOrEqual(5);
        return referencedId(policy.deadLetterTargetArn);
      });

      // Assess
      expect(Object.keys(queues)).toHaveLength(6);
      expect(sources).toHaveLength(3);
      expect(new Set(deadLetterIds).size).toBe(3);
      for (const id of deadLetterIds) {
        expect(props(queues[id]).RedriveAllowPolicy).toEqual({ redrivePermission: 'allowAll' });
        expect(props(queues[id]).MessageRetentionPeriod).toBe(14 * 24 * 3600);
        expect(props(queues[id]).RedrivePolicy).toBeUndefined();
      }
      expect(deadLetterIds).toContain(defaults.logicalId(defaults.stack.published.deadLetterQueue));
    });

    it('uses the configured maxReceiveCount on every redrive policy', () => {
      // Act
      const synth = synthesizeStack({ maxReceiveCount: 9 });

      // Assess
      const sources = Object.values(resourcesOfType(synth.template, 'AWS::SQS::Queue')).filter(
        (queue) => props(queue).RedrivePolicy !== undefined,
      );
      expect(
        sources.map((queue) => (props(queue).RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount),
      ).toEqual([9, 9, 9]);
    });

    it.each(STAGES)('keeps the %s queue invisible for six times the function timeout', (stage) => {
      // Prepare
      const synth = synthesizeStack({ stages: { [stage]: { timeoutSeconds: 200 } } });
      const queueId = referencedId(eventSourceOf(synth, stage).EventSourceArn);

      // Act
      const visibility = props(resourcesOfType(synth.template, 'AWS::SQS::Queue')[queueId]).VisibilityTimeout;

      // Assess
      expect(queueId).toBe(stageIds(synth, stage).queue);
      expect(functionOf(synth, stage).Timeout).toBe(200);
      expect(visibility).toBe(1200);
    });

    it('encrypts every queue and denies every request without TLS', () => {
      // Prepare
      const queues = resourcesOfType(defaults.template, 'AWS::SQS::Queue');
      const policies = Object.values(resourcesOfType(defaults.template, 'AWS::SQS::QueuePolicy'));

      // Act & Assess
      for (const [id, queue] of Object.entries(queues)) {
        expect(props(queue).SqsManagedSseEnabled).toBe(true);
        const denials = policies
          .filter((policy) => (props(policy).Queues as unknown[]).some((queueRef) => referencedId(queueRef) === id))
          .flatMap((policy) => (props(policy).PolicyDocument as { Statement: Record<string, unknown>[] }).Statement)
          .filter((statement) => statement.Effect === 'Deny');
        expect(denials).toContainEqual(
          expect.objectContaining({
            Action: 'sqs:*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            Principal: { AWS: '*' },
          }),
        );
      }
    });
  });

  describe('tables', () => {
    it('makes both tables on-demand, encrypted, point-in-time recoverable and retained', () => {
      // Prepare
      const tables = resourcesOfType(defaults.template, 'AWS::DynamoDB::Table');

      // Act & Assess
      expect(Object.keys(tables)).toHaveLength(2);
      for (const table of Object.values(tables)) {
        expect(table.DeletionPolicy).toBe('Retain');
        expect(props(table)).toMatchObject({
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
        });
      }
    });

    it('gives the state table a TTL, the sparse ByState index and the sparse index of items awaiting history', () => {
      // Act
      const state = props(
        resourcesOfType(defaults.template, 'AWS::DynamoDB::Table')[defaults.logicalId(defaults.stack.stateTable)],
      );

      // Assess
      expect(state.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
      expect(state.GlobalSecondaryIndexes).toEqual([
        {
          IndexName: 'ByState',
          KeySchema: [
            { AttributeName: 'state', KeyType: 'HASH' },
            { AttributeName: 'updatedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
        {
          IndexName: 'AwaitingHistory',
          KeySchema: [
            { AttributeName: 'awaitingHistory', KeyType: 'HASH' },
            { AttributeName: 'updatedAt', KeyType: 'RANGE' },
          ],
          Projection: {
            ProjectionType: 'INCLUDE',
            NonKeyAttributes: ['itemId', 'reenrichQueuedAt', 'autoReenrichments'],
          },
        },
      ]);
      expect(state.AttributeDefinitions).toEqual(
        expect.arrayContaining([
          { AttributeName: 'state', AttributeType: 'S' },
          { AttributeName: 'updatedAt', AttributeType: 'S' },
        ]),
      );
    });
  });

  describe('functions', () => {
    it.each(STAGES)('runs the %s function on Node.js 24, arm64, traced, with its own log group', (stage) => {
      // Act
      const fn = functionOf(defaults, stage);
      const logGroupId = referencedId((fn.LoggingConfig as { LogGroup: unknown }).LogGroup);

      // Assess
      expect(fn).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        MemorySize: 512,
        Timeout: stage === 'extract' ? 120 : 300,
      });
      expect(props(resourcesOfType(defaults.template, 'AWS::Logs::LogGroup')[logGroupId]).RetentionInDays).toBe(30);
    });

    it.each(STAGES)('sets exactly the documented environment on the %s function', (stage) => {
      // Act
      const environment = environmentOf(defaults, stage);

      // Assess
      expect(Object.keys(environment).sort()).toEqual(
        [
          ...Object.keys(stageEnvironmentSchema.shape),
          'POWERTOOLS_SERVICE_NAME',
          'POWERTOOLS_METRICS_NAMESPACE',
          'POWERTOOLS_LOG_LEVEL',
          'NODE_OPTIONS',
        ].sort(),
      );
      expect(environment).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'sluice',
        POWERTOOLS_METRICS_NAMESPACE: 'Sluice',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
      });
    });

    it.each(STAGES)('passes the %s function a runtime config it accepts, and no API key', (stage) => {
      // Prepare
      const environment = environmentOf(defaults, stage);

      // Act
      const runtime = runtimeConfigSchema.parse(JSON.parse(String(environment.SLUICE_RUNTIME_CONFIG)));

      // Assess
      expect(runtime.stage).toBe(stage);
      expect(referencedId(environment.LLM_API_KEY_SECRET_ARN)).toBe(defaults.logicalId(defaults.stack.apiKeySecret));
      const literals = Object.values(environment).filter((value) => typeof value === 'string');
      expect(literals.join('\n')).not.toMatch(/sk-|api[_-]?key"?\s*[:=]/i);
    });

    it('wires each stage to its next queue and its own DLQ', () => {
      // Act
      const extract = environmentOf(defaults, 'extract');
      const draft = environmentOf(defaults, 'draft');

      // Assess
      expect(referencedId(extract.NEXT_QUEUE_URL)).toBe(stageIds(defaults, 'draft').queue);
      expect(referencedId(extract.DLQ_URL)).toBe(stageIds(defaults, 'extract').deadLetterQueue);
      expect(referencedId(draft.NEXT_QUEUE_URL)).toBe(defaults.logicalId(defaults.stack.published.queue));
      expect(referencedId(draft.DLQ_URL)).toBe(stageIds(defaults, 'draft').deadLetterQueue);
      for (const environment of [extract, draft]) {
        expect(referencedId(environment.STATE_TABLE_NAME)).toBe(defaults.logicalId(defaults.stack.stateTable));
        expect(referencedId(environment.MEMORY_TABLE_NAME)).toBe(defaults.logicalId(defaults.stack.memoryTable));
      }
    });
  });

  describe('least privilege', () => {
    it('gives the extract function no access to the memory table', () => {
      // Act
      const statements = statementsOf(defaults, 'extract');

      // Assess
      const memoryTableId = defaults.logicalId(defaults.stack.memoryTable);
      expect(JSON.stringify(statements)).not.toContain(memoryTableId);
      expect(JSON.stringify(statements)).toContain(defaults.logicalId(defaults.stack.stateTable));
    });

    it('lets the draft function look up (Query) and remember (BatchWriteItem) past items in the memory table', () => {
      // Act
      const statements = statementsOf(defaults, 'draft').filter((statement) =>
        JSON.stringify(statement.Resource).includes(defaults.logicalId(defaults.stack.memoryTable)),
      );

      // Assess
      const actions = statements.flatMap(actionsOf);
      expect(actions.sort()).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:Query']);
    });

    it.each<[Stage, (synth: SynthesizedStack) => string]>([
      ['extract', (synth) => stageIds(synth, 'draft').queue],
      ['draft', (synth) => synth.logicalId(synth.stack.published.queue)],
    ])(
      'lets the %s function send only to its next queue, its own queue (to defer) and its own DLQ',
      (stage, nextQueue) => {
        // Act
        const targets = statementsOf(defaults, stage)
          .filter((statement) => actionsOf(statement).includes('sqs:SendMessage'))
          .flatMap(resourcesOf)
          .map(referencedId);

        // Assess
        const own = stageIds(defaults, stage);
        expect(targets.sort()).toEqual([nextQueue(defaults), own.queue, own.deadLetterQueue].sort());
      },
    );

    it.each(STAGES)('grants the %s function no wildcard except for X-Ray', (stage) => {
      // Act
      const wildcards = statementsOf(defaults, stage).filter(
        (statement) =>
          actionsOf(statement).some((action) => action.includes('*')) ||
          resourcesOf(statement).some((resource) => JSON.stringify(resource).includes('*')),
      );

      // Assess
      expect(wildcards.flatMap(actionsOf).sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
    });
  });

  describe('API key secret', () => {
    it('creates a secret with no physical name by default', () => {
      // Act
      const secrets = resourcesOfType(defaults.template, 'AWS::SecretsManager::Secret');

      // Assess
      expect(Object.values(secrets)).toHaveLength(1);
      expect(props(Object.values(secrets)[0])).not.toHaveProperty('Name');
    });

    it('uses an existing secret when its ARN is configured', () => {
      // Prepare
      const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:llm-api-key-AbC123';

      // Act
      const synth = synthesizeStack({ apiKeySecretArn: arn });

      // Assess
      synth.template.resourceCountIs('AWS::SecretsManager::Secret', 0);
      for (const stage of STAGES) {
        expect(environmentOf(synth, stage).LLM_API_KEY_SECRET_ARN).toBe(arn);
        const reads = statementsOf(synth, stage).filter((statement) =>
          actionsOf(statement).includes('secretsmanager:GetSecretValue'),
        );
        expect(reads.flatMap(resourcesOf)).toEqual([arn]);
      }
      expect(synth.template.findOutputs('ApiKeySecretArn').ApiKeySecretArn?.Value).toBe(arn);
    });
  });

  describe('dependency layer', () => {
    it('creates no layer by default', () => {
      // Act & Assess
      defaults.template.resourceCountIs('AWS::Lambda::LayerVersion', 0);
      for (const stage of STAGES) expect(functionOf(defaults, stage)).not.toHaveProperty('Layers');
    });

    it('attaches one Node.js 24 arm64 layer to both functions when switched on', () => {
      // Act
      const synth = synthesizeStack({ useDependencyLayer: true });

      // Assess
      const layers = resourcesOfType(synth.template, 'AWS::Lambda::LayerVersion');
      expect(Object.keys(layers)).toHaveLength(1);
      const [layerId, layer] = Object.entries(layers)[0] ?? [];
      expect(props(layer)).toMatchObject({ CompatibleRuntimes: ['nodejs24.x'], CompatibleArchitectures: ['arm64'] });
      for (const stage of STAGES) expect(functionOf(synth, stage).Layers).toEqual([{ Ref: layerId }]);
    });
  });

  it('names no resource physically', () => {
    // Prepare
    const synth = synthesizeStack({ useDependencyLayer: true });
    const physicalNames = ['QueueName', 'TableName', 'FunctionName', 'LogGroupName', 'RoleName', 'Name', 'LayerName'];

    // Resources of these types name the function they belong to in FunctionName: a reference, not a name.
    const referringToAFunction = [
      'AWS::Lambda::EventSourceMapping',
      'AWS::Lambda::EventInvokeConfig',
      'AWS::Lambda::Permission',
    ];

    // Act
    const named = Object.entries(synth.template.toJSON().Resources as Record<string, TemplateResource>)
      .filter(([, resource]) => !referringToAFunction.includes(resource.Type))
      .filter(([, resource]) => physicalNames.some((key) => resource.Properties?.[key] !== undefined))
      .map(([id]) => id);

    // Assess
    expect(named).toEqual([]);
  });

  it('declares the outputs the CLI and the local runtime read', () => {
    // Act
    const outputs = Object.keys(defaults.template.toJSON().Outputs as Record<string, unknown>);

    // Assess
    expect(outputs.sort()).toEqual(
      [
        'IntakeQueueUrl',
        'IntakeQueueArn',
        'IntakeDeadLetterQueueUrl',
        'IntakeDeadLetterQueueArn',
        'DraftQueueUrl',
        'DraftQueueArn',
        'DraftDeadLetterQueueUrl',
        'DraftDeadLetterQueueArn',
        'PublishedQueueUrl',
        'PublishedQueueArn',
        'PublishedDeadLetterQueueUrl',
        'PublishedDeadLetterQueueArn',
        'StateTableName',
        'MemoryTableName',
        'ApiKeySecretArn',
        'ExtractFunctionName',
        'DraftFunctionName',
        'ExtractEventSourceMappingId',
        'DraftEventSourceMappingId',
        'SupervisorFunctionName',
        'AlarmTopicArn',
        'DashboardName',
      ].sort(),
    );
    expect(referencedId(defaults.template.toJSON().Outputs.IntakeQueueUrl.Value)).toBe(
      stageIds(defaults, 'extract').queue,
    );
  });

  it.each<[Stage, string]>([
    ['extract', 'ExtractEventSourceMappingId'],
    ['draft', 'DraftEventSourceMappingId'],
  ])('outputs the UUID of the %s event source mapping, which pause and resume disable and enable', (stage, key) => {
    // Act
    const output = defaults.template.toJSON().Outputs[key] as { Value: unknown };

    // Assess: Ref of an AWS::Lambda::EventSourceMapping is its UUID
    expect(output.Value).toEqual({ Ref: eventSourceIdOf(defaults, stage) });
    expect(referencedId(eventSourceOf(defaults, stage).EventSourceArn)).toBe(stageIds(defaults, stage).queue);
  });
});
