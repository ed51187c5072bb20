import { describe, expect, it } from 'vitest';
import { parseTemplate, type TemplateDescription } from '#local/template.ts';
import { type ExpressionScope, resolveExpression, TemplateError } from '#local/template-expressions.ts';
import { fixtureTemplate } from './support.ts';

/** The fixture with one resource's properties replaced (or a resource added). */
function withResource(logicalId: string, resource: object): object {
  const template = fixtureTemplate();
  return { ...template, Resources: { ...template.Resources, [logicalId]: resource } };
}

function withFunctionVariable(name: string, value: unknown): object {
  const template = fixtureTemplate();
  const fn = template.Resources.ExtractFn3B2A1C0D;
  return withResource('ExtractFn3B2A1C0D', {
    ...fn,
    Properties: {
      ...fn.Properties,
      Environment: { Variables: { ...fn.Properties.Environment.Variables, [name]: value } },
    },
  });
}

function parseError(template: unknown): TemplateError {
  try {
    parseTemplate(template);
  } catch (error) {
    if (error instanceof TemplateError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected parseTemplate to fail');
}

describe('Function: parseTemplate', () => {
  describe('on a template shaped like the CDK synthesizes it', () => {
    const description: TemplateDescription = parseTemplate(fixtureTemplate());

    it('describes every queue, each redrive pointing at its dead-letter queue', () => {
      // Assess
      expect(description.queues).toEqual(
        expect.arrayContaining([
          {
            logicalId: 'IntakeQueue0C4A7E19',
            visibilityTimeoutSeconds: 360,
            messageRetentionPeriodSeconds: 345600,
            redrive: { deadLetterQueueLogicalId: 'IntakeDlq5F3A8D2B', maxReceiveCount: 5 },
          },
          {
            logicalId: 'IntakeDlq5F3A8D2B',
            messageRetentionPeriodSeconds: 1209600,
            redriveAllow: { redrivePermission: 'allowAll' },
          },
          {
            logicalId: 'DraftQueue9E8D7C6B',
            visibilityTimeoutSeconds: 720,
            redrive: { deadLetterQueueLogicalId: 'DraftDlqA1B2C3D4', maxReceiveCount: 6 },
          },
        ]),
      );
      expect(description.queues).toHaveLength(4);
    });

    it('describes the table with its keys and index, noting TTL and point-in-time recovery', () => {
      // Assess
      expect(description.tables).toEqual([
        {
          logicalId: 'StateTable6C1E0A2F',
          keySchema: [
            { attributeName: 'pk', keyType: 'HASH' },
            { attributeName: 'sk', keyType: 'RANGE' },
          ],
          attributeDefinitions: [
            { attributeName: 'pk', attributeType: 'S' },
            { attributeName: 'sk', attributeType: 'S' },
            { attributeName: 'state', attributeType: 'S' },
            { attributeName: 'updatedAt', attributeType: 'N' },
          ],
          globalSecondaryIndexes: [
            {
              indexName: 'byState',
              keySchema: [
                { attributeName: 'state', keyType: 'HASH' },
                { attributeName: 'updatedAt', keyType: 'RANGE' },
              ],
              projectionType: 'ALL',
            },
          ],
          localSecondaryIndexes: [],
          billingMode: 'PAY_PER_REQUEST',
          timeToLiveAttribute: 'expiresAt',
          pointInTimeRecovery: true,
        },
      ]);
    });

    it('describes the function with its limits and the references in its environment', () => {
      // Assess
      expect(description.functions).toEqual([
        {
          logicalId: 'ExtractFn3B2A1C0D',
          timeoutSeconds: 60,
          memoryMb: 512,
          reservedConcurrency: 4,
          environment: expect.objectContaining({
            STATE_TABLE_NAME: { kind: 'ref', logicalId: 'StateTable6C1E0A2F' },
            DLQ_URL: { kind: 'getAtt', logicalId: 'IntakeDlq5F3A8D2B', attribute: 'QueueUrl' },
            POWERTOOLS_SERVICE_NAME: { kind: 'literal', value: 'sluice' },
          }),
        },
      ]);
    });

    it('describes the event source mapping with its batch size, concurrency and partial failures', () => {
      // Assess
      expect(description.eventSources).toEqual([
        {
          logicalId: 'ExtractFnSqsEventSourceIntakeQueue8F7E6D5C',
          queueLogicalId: 'IntakeQueue0C4A7E19',
          functionLogicalId: 'ExtractFn3B2A1C0D',
          batchSize: 5,
          maximumConcurrency: 3,
          reportBatchItemFailures: true,
          maximumBatchingWindowSeconds: 0,
          enabled: true,
        },
      ]);
    });

    it('keeps secrets and every output, and skips the types it does not emulate', () => {
      // Assess
      expect(description.secrets).toEqual([{ logicalId: 'ApiKeySecretB7E2C9D1' }]);
      expect(Object.keys(description.outputs)).toEqual(Object.keys(fixtureTemplate().Outputs));
      expect(description.resourceTypes.ExtractFnServiceRoleD4A1B0C9).toBe('AWS::IAM::Role');
    });
  });

  it('applies Lambda defaults to a function without timeout or memory size', () => {
    // Prepare
    const template = withResource('BareFn', {
      Type: 'AWS::Lambda::Function',
      Properties: { Handler: 'index.handler' },
    });

    // Act
    const fn = parseTemplate(template).functions.find((candidate) => candidate.logicalId === 'BareFn');

    // Assess
    expect(fn).toEqual({ logicalId: 'BareFn', timeoutSeconds: 3, memoryMb: 128, environment: {} });
  });

  it('describes an EventBridge schedule and its target function, and accepts its permission and invoke config', () => {
    // Prepare
    const template = fixtureTemplate();
    const scheduled = {
      ...template,
      Resources: {
        ...template.Resources,
        Schedule: {
          Type: 'AWS::Events::Rule',
          Properties: {
            ScheduleExpression: 'rate(1 minute)',
            State: 'ENABLED',
            Targets: [
              {
                Arn: { 'Fn::GetAtt': ['ExtractFn3B2A1C0D', 'Arn'] },
                Id: 'Target0',
                RetryPolicy: { MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 },
              },
              { Arn: { Ref: 'AlarmTopic2D3E4F5A' }, Id: 'Target1' },
            ],
          },
        },
        SchedulePermission: {
          Type: 'AWS::Lambda::Permission',
          Properties: {
            Action: 'lambda:InvokeFunction',
            FunctionName: { 'Fn::GetAtt': ['ExtractFn3B2A1C0D', 'Arn'] },
            Principal: 'events.amazonaws.com',
            SourceArn: { 'Fn::GetAtt': ['Schedule', 'Arn'] },
          },
        },
        InvokeConfig: {
          Type: 'AWS::Lambda::EventInvokeConfig',
          Properties: {
            FunctionName: { Ref: 'ExtractFn3B2A1C0D' },
            Qualifier: '$LATEST',
            MaximumRetryAttempts: 0,
            MaximumEventAgeInSeconds: 60,
          },
        },
      },
    };

    // Act
    const description = parseTemplate(scheduled);

    // Assess
    expect(description.rules).toEqual([
      { logicalId: 'Schedule', scheduleExpression: 'rate(1 minute)', targetFunctionLogicalIds: ['ExtractFn3B2A1C0D'] },
    ]);
    expect(description.functions.map((fn) => fn.logicalId)).toEqual(['ExtractFn3B2A1C0D']);
    expect(description.resourceTypes.SchedulePermission).toBe('AWS::Lambda::Permission');
    expect(description.resourceTypes.InvokeConfig).toBe('AWS::Lambda::EventInvokeConfig');
  });

  it('reads a DynamoDB global table (TableV2) like a table', () => {
    // Prepare
    const template = withResource('MemoryTable', {
      Type: 'AWS::DynamoDB::GlobalTable',
      Properties: {
        AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
        Replicas: [{ Region: 'eu-west-1', PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } }],
      },
    });

    // Act
    const table = parseTemplate(template).tables.find((candidate) => candidate.logicalId === 'MemoryTable');

    // Assess
    expect(table).toMatchObject({ keySchema: [{ attributeName: 'id', keyType: 'HASH' }], pointInTimeRecovery: true });
  });

  describe('rejects what it cannot run locally, naming where', () => {
    it('rejects an unsupported intrinsic function', () => {
      // Act
      const error = parseError(withFunctionVariable('SHARED_TOPIC', { 'Fn::ImportValue': 'SharedTopicArn' }));

      // Assess
      expect(error.location).toBe('Resources.ExtractFn3B2A1C0D.Properties.Environment.Variables.SHARED_TOPIC');
      expect(error.message).toContain('intrinsic function Fn::ImportValue is not supported locally');
    });

    it('rejects a condition in an output', () => {
      // Prepare
      const template = fixtureTemplate();
      const withIf = {
        ...template,
        Outputs: { Maybe: { Value: { 'Fn::If': ['IsProd', 'a', 'b'] } } },
      };

      // Act
      const error = parseError(withIf);

      // Assess
      expect(error.message).toBe('Outputs.Maybe: intrinsic function Fn::If is not supported locally');
    });

    it('rejects a reference to a resource that does not exist', () => {
      // Act
      const error = parseError(withFunctionVariable('MISSING', { Ref: 'NoSuchQueue' }));

      // Assess
      expect(error.message).toContain('"NoSuchQueue" is not a resource');
    });

    it('rejects an attribute it cannot provide', () => {
      // Act
      const error = parseError(withFunctionVariable('STREAM', { 'Fn::GetAtt': ['StateTable6C1E0A2F', 'StreamArn'] }));

      // Assess
      expect(error.message).toContain(
        'attribute StreamArn of AWS::DynamoDB::Table "StateTable6C1E0A2F" is not supported locally',
      );
    });

    it('rejects a FIFO queue', () => {
      // Act
      const error = parseError(withResource('Ordered', { Type: 'AWS::SQS::Queue', Properties: { FifoQueue: true } }));

      // Assess
      expect(error.message).toBe('Resources.Ordered: FIFO queue "Ordered" is not supported locally');
    });

    it('rejects a queue property of the wrong type', () => {
      // Act
      const error = parseError(
        withResource('Odd', { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'a minute' } }),
      );

      // Assess
      expect(error.location).toBe('Resources.Odd.Properties');
      expect(error.message).toContain('unsupported AWS::SQS::Queue "Odd": VisibilityTimeout');
    });

    it('rejects an event source mapping with filters', () => {
      // Prepare
      const template = fixtureTemplate();
      const mapping = template.Resources.ExtractFnSqsEventSourceIntakeQueue8F7E6D5C;

      // Act
      const error = parseError(
        withResource('ExtractFnSqsEventSourceIntakeQueue8F7E6D5C', {
          ...mapping,
          Properties: { ...mapping.Properties, FilterCriteria: { Filters: [{ Pattern: '{}' }] } },
        }),
      );

      // Assess
      expect(error.message).toContain('FilterCriteria of event source mapping');
    });

    it('rejects an event source that is not an SQS queue', () => {
      // Prepare
      const mapping = fixtureTemplate().Resources.ExtractFnSqsEventSourceIntakeQueue8F7E6D5C;

      // Act
      const error = parseError(
        withResource('ExtractFnSqsEventSourceIntakeQueue8F7E6D5C', {
          ...mapping,
          Properties: { ...mapping.Properties, EventSourceArn: { 'Fn::GetAtt': ['StateTable6C1E0A2F', 'Arn'] } },
        }),
      );

      // Assess
      expect(error.location).toBe('Resources.ExtractFnSqsEventSourceIntakeQueue8F7E6D5C.Properties.EventSourceArn');
      expect(error.message).toContain('expected { "Fn::GetAtt": [<AWS::SQS::Queue>, "Arn"] }');
    });

    it('rejects a conditional resource of an emulated type', () => {
      // Act
      const error = parseError(withResource('Maybe', { Type: 'AWS::SQS::Queue', Condition: 'IsProd' }));

      // Assess
      expect(error.message).toContain('conditions are not supported locally');
    });

    it('rejects something that is not a template', () => {
      // Act
      const error = parseError({ Outputs: {} });

      // Assess
      expect(error.message).toContain('not a CloudFormation template');
    });
  });
});

describe('Function: resolveExpression', () => {
  const scope: ExpressionScope = {
    pseudo: (name) => (name === 'AWS::Region' ? 'eu-west-1' : name),
    ref: (logicalId) => `ref:${logicalId}`,
    getAtt: (logicalId, attribute) => `arn:aws:sqs:eu-west-1:000000000000:${logicalId}:${attribute}`,
  };
  const resolveOutput = (value: unknown): string => {
    const template = { Resources: { Queue: { Type: 'AWS::SQS::Queue' } }, Outputs: { Value: { Value: value } } };
    const expression = parseTemplate(template).outputs.Value;
    if (expression === undefined) {
      throw new Error('no output');
    }
    return resolveExpression(expression, scope, 'Outputs.Value');
  };

  it('joins, selects and splits', () => {
    // Act
    const joined = resolveOutput({ 'Fn::Join': ['/', ['a', { Ref: 'Queue' }, { Ref: 'AWS::Region' }]] });
    const selected = resolveOutput({ 'Fn::Select': [1, { 'Fn::Split': [':', 'x:y:z'] }] });

    // Assess
    expect(joined).toBe('a/ref:Queue/eu-west-1');
    expect(selected).toBe('y');
  });

  it('substitutes references, attributes, variables and escaped literals in Fn::Sub', () => {
    // Act
    const value = resolveOutput({
      // biome-ignore lint/suspicious/noTemplateCurlyInString: Fn::Sub syntax, not a JavaScript template
      'Fn::Sub': ['${AWS::Region}|${Queue}|${Queue.Arn}|${Name}|${!Literal}', { Name: { Ref: 'Queue' } }],
    });

    // Assess
    // biome-ignore lint/suspicious/noTemplateCurlyInString: the literal Fn::Sub leaves behind
    expect(value).toBe('eu-west-1|ref:Queue|arn:aws:sqs:eu-west-1:000000000000:Queue:Arn|ref:Queue|${Literal}');
  });

  it('fails on an out-of-range Fn::Select', () => {
    // Act
    const act = () => resolveOutput({ 'Fn::Select': [3, ['a', 'b']] });

    // Assess
    expect(act).toThrow('Outputs.Value: Fn::Select index 3 is out of range (2 items)');
  });

  it('fails when a value is a list where a string is needed', () => {
    // Act
    const act = () => resolveOutput({ 'Fn::Split': [',', 'a,b'] });

    // Assess
    expect(act).toThrow(TemplateError);
  });
});
