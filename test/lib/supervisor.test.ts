import { describe, expect, it } from 'vitest';
import { SHIPPED_STAGES as STAGES } from '#functions/pipeline.ts';
import { SUPERVISOR_ENVIRONMENT_KEYS, supervisorRuntimeConfigSchema } from '#functions/supervisor/runtime-config.ts';
import { loadConfig, type SluiceConfigInput } from '#lib/config.ts';
import { RUNBOOK_SECTIONS } from '#lib/constructs/alarms.ts';
import { supervisorScheduleMinutes, supervisorTimeoutSeconds } from '#lib/constructs/supervisor.ts';
import { supervisorConfigFor } from '#lib/runtime-configs.ts';
import type { Stage } from '#shared/runtime-config.ts';
import { alarmOf, graph, readAlarm, row, sluiceMetric } from './monitoring-readers.ts';
import { resourcesOfType, type SynthesizedStack, synthesizeStack, type TemplateResource } from './stack-fixture.ts';

const SLOW: SluiceConfigInput = {
  supervisor: { intervalSeconds: 300 },
  llm: { timeoutSeconds: 120, fallbackModel: 'backup-model' },
  prices: { 'backup-model': { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } },
  reservedConcurrencyEnabled: false,
  useDependencyLayer: true,
  alarms: { stagePausedMinutes: 12, supervisorFailedInvocations: 4 },
};

const defaults = synthesizeStack();
const fast = synthesizeStack({ supervisor: { intervalSeconds: 30 } });
const slow = synthesizeStack(SLOW);
const disabled = synthesizeStack({ supervisor: { enabled: false } });

interface PolicyStatement {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

function props(resource: TemplateResource | undefined): Record<string, unknown> {
  if (resource === undefined) throw new Error('resource not found');
  return resource.Properties ?? {};
}

function supervisorOf(synth: SynthesizedStack) {
  const supervisor = synth.stack.supervisor;
  if (supervisor === undefined) throw new Error('the stack has no supervisor');
  return supervisor;
}

function functionId(synth: SynthesizedStack): string {
  return synth.logicalId(supervisorOf(synth).function);
}

function functionOf(synth: SynthesizedStack): Record<string, unknown> {
  return props(resourcesOfType(synth.template, 'AWS::Lambda::Function')[functionId(synth)]);
}

function environmentOf(synth: SynthesizedStack): Record<string, unknown> {
  return (functionOf(synth).Environment as { Variables: Record<string, unknown> }).Variables;
}

/** The one resource of a type in the template. */
function onlyOf(synth: SynthesizedStack, type: string): Record<string, unknown> {
  const resources = Object.values(resourcesOfType(synth.template, type));
  expect(resources).toHaveLength(1);
  return props(resources[0]);
}

/** Logical id of a stage's event source mapping: the one whose FunctionName is the stage function. */
function mappingIdOf(synth: SynthesizedStack, stage: Stage): string {
  const stageFunctionId = synth.logicalId(synth.stack.stage(stage).function);
  const [id] = Object.entries(resourcesOfType(synth.template, 'AWS::Lambda::EventSourceMapping'))
    .filter(([, mapping]) => JSON.stringify(props(mapping).FunctionName) === JSON.stringify({ Ref: stageFunctionId }))
    .map(([logicalId]) => logicalId);
  if (id === undefined) throw new Error(`no event source mapping for ${stage}`);
  return id;
}

function statementsOf(synth: SynthesizedStack): PolicyStatement[] {
  const role = supervisorOf(synth).function.role;
  if (role === undefined) throw new Error('the supervisor function has no role');
  const roleRef = JSON.stringify({ Ref: synth.logicalId(role) });
  return Object.values(resourcesOfType(synth.template, 'AWS::IAM::Policy'))
    .filter((policy) => (props(policy).Roles as unknown[]).some((ref) => JSON.stringify(ref) === roleRef))
    .flatMap((policy) => (props(policy).PolicyDocument as { Statement: PolicyStatement[] }).Statement);
}

function actionsOf(statement: PolicyStatement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

function resourcesOf(statement: PolicyStatement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/** Every resource the role may use an action on. */
function resourcesAllowed(synth: SynthesizedStack, action: string): unknown[] {
  return statementsOf(synth)
    .filter((statement) => statement.Effect === 'Allow' && actionsOf(statement).includes(action))
    .flatMap(resourcesOf);
}

function arn(synth: SynthesizedStack, construct: Parameters<SynthesizedStack['logicalId']>[0]) {
  return { 'Fn::GetAtt': [synth.logicalId(construct), 'Arn'] };
}

function mappingArn(synth: SynthesizedStack, stage: Stage) {
  return {
    'Fn::Join': [
      '',
      [
        'arn:',
        { Ref: 'AWS::Partition' },
        ':lambda:',
        { Ref: 'AWS::Region' },
        ':',
        { Ref: 'AWS::AccountId' },
        ':event-source-mapping:',
        { Ref: mappingIdOf(synth, stage) },
      ],
    ],
  };
}

function sorted(values: readonly unknown[]): string[] {
  return values.map((value) => JSON.stringify(value)).sort();
}

describe('Function: supervisorScheduleMinutes', () => {
  it.each([
    [1, 1],
    [30, 1],
    [60, 1],
    [61, 2],
    [300, 5],
    [3600, 60],
  ])('schedules an interval of %i s every %i minute(s)', (intervalSeconds, minutes) => {
    // Act & Assess
    expect(supervisorScheduleMinutes(intervalSeconds)).toBe(minutes);
  });
});

describe('Function: supervisorTimeoutSeconds', () => {
  it.each([
    [60, 60, 90],
    [300, 120, 150],
    [30, 60, 150],
    [59, 10, 100],
    [60, 900, 900],
    [30, 850, 900],
  ])('gives an interval of %i s and LLM calls of %i s a timeout of %i s', (interval, llm, timeout) => {
    // Act & Assess
    expect(supervisorTimeoutSeconds(interval, llm)).toBe(timeout);
  });
});

describe('Construct: Supervisor', () => {
  describe('function', () => {
    it('runs on Node.js 24, arm64, traced, alone (reserved concurrency 1), with its own log group', () => {
      // Act
      const fn = functionOf(defaults);
      const logGroupId = (fn.LoggingConfig as { LogGroup: { Ref: string } }).LogGroup.Ref;

      // Assess
      expect(fn).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        TracingConfig: { Mode: 'Active' },
        MemorySize: 256,
        Timeout: 90,
        ReservedConcurrentExecutions: 1,
      });
      expect(props(resourcesOfType(defaults.template, 'AWS::Logs::LogGroup')[logGroupId]).RetentionInDays).toBe(30);
    });

    it('runs with the same runtime, architecture, handler and tracing as the stage functions', () => {
      // Act
      const supervisor = functionOf(defaults);

      // Assess
      for (const stage of STAGES) {
        const stageFunction = props(
          resourcesOfType(defaults.template, 'AWS::Lambda::Function')[
            defaults.logicalId(defaults.stack.stage(stage).function)
          ],
        );
        for (const key of ['Runtime', 'Architectures', 'Handler', 'TracingConfig'] as const) {
          expect(supervisor[key]).toEqual(stageFunction[key]);
        }
      }
    });

    it('gets no reserved concurrency when reservation is off, and the dependency layer when it is on', () => {
      // Act
      const fn = functionOf(slow);

      // Assess
      expect(fn).not.toHaveProperty('ReservedConcurrentExecutions');
      const [layerId] = Object.keys(resourcesOfType(slow.template, 'AWS::Lambda::LayerVersion'));
      expect(fn.Layers).toEqual([{ Ref: layerId }]);
      expect(functionOf(defaults)).not.toHaveProperty('Layers');
    });

    it('waits for one LLM call plus the rest of a look, and a minute more when it ticks within each minute', () => {
      // Act & Assess
      expect(functionOf(defaults).Timeout).toBe(90);
      expect(functionOf(fast).Timeout).toBe(150);
      expect(functionOf(slow).Timeout).toBe(150);
    });

    it('sets exactly the documented environment: its contract and the Powertools variables', () => {
      // Act
      const environment = environmentOf(defaults);

      // Assess
      expect(Object.keys(environment).sort()).toEqual(
        [
          ...Object.keys(SUPERVISOR_ENVIRONMENT_KEYS),
          // Each supervised stage's queue and event source mapping.
          'EXTRACT_QUEUE_URL',
          'EXTRACT_EVENT_SOURCE_MAPPING_ID',
          'DRAFT_QUEUE_URL',
          'DRAFT_EVENT_SOURCE_MAPPING_ID',
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

    it('points the supervisor at the state table, the secret, both stage queues and both event source mappings', () => {
      // Act
      const environment = environmentOf(defaults);

      // Assess
      expect(environment).toMatchObject({
        STATE_TABLE_NAME: { Ref: defaults.logicalId(defaults.stack.stateTable) },
        LLM_API_KEY_SECRET_ARN: { Ref: defaults.logicalId(defaults.stack.apiKeySecret) },
        EXTRACT_QUEUE_URL: { Ref: defaults.logicalId(defaults.stack.stage('extract').queue) },
        DRAFT_QUEUE_URL: { Ref: defaults.logicalId(defaults.stack.stage('draft').queue) },
        EXTRACT_EVENT_SOURCE_MAPPING_ID: { Ref: mappingIdOf(defaults, 'extract') },
        DRAFT_EVENT_SOURCE_MAPPING_ID: { Ref: mappingIdOf(defaults, 'draft') },
      });
    });

    it('passes the supervisor the config it accepts, derived from the one config', () => {
      // Act
      const runtime = supervisorRuntimeConfigSchema.parse(
        JSON.parse(String(environmentOf(slow).SLUICE_SUPERVISOR_CONFIG)),
      );

      // Assess
      expect(runtime).toEqual(supervisorConfigFor(loadConfig(SLOW)));
      expect(runtime.intervalMs).toBe(300_000);
      expect(runtime.stages.extract).toMatchObject({ maxConcurrency: 5, fallbackModel: 'backup-model' });
    });
  });

  describe('schedule', () => {
    it.each<[string, SynthesizedStack, string]>([
      ['the default 60 s', defaults, 'rate(1 minute)'],
      ['30 s (ticking within the minute)', fast, 'rate(1 minute)'],
      ['300 s', slow, 'rate(5 minutes)'],
    ])('invokes the function on a schedule matching an interval of %s', (_case, synth, expression) => {
      // Act
      const rule = onlyOf(synth, 'AWS::Events::Rule');

      // Assess
      expect(rule).toMatchObject({ ScheduleExpression: expression, State: 'ENABLED' });
      expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [functionId(synth), 'Arn'] } })]);
    });

    it('neither retries a missed look nor delivers a stale one, on the rule or in Lambda', () => {
      // Act
      const [target] = onlyOf(defaults, 'AWS::Events::Rule').Targets as Record<string, unknown>[];
      const invokeConfig = onlyOf(defaults, 'AWS::Lambda::EventInvokeConfig');

      // Assess
      expect(target?.RetryPolicy).toEqual({ MaximumRetryAttempts: 0, MaximumEventAgeInSeconds: 60 });
      expect(invokeConfig).toMatchObject({
        FunctionName: { Ref: functionId(defaults) },
        MaximumRetryAttempts: 0,
        MaximumEventAgeInSeconds: 60,
      });
    });

    it('lets only its own rule invoke the function', () => {
      // Act
      const permission = onlyOf(defaults, 'AWS::Lambda::Permission');

      // Assess
      const [ruleId] = Object.keys(resourcesOfType(defaults.template, 'AWS::Events::Rule'));
      expect(permission).toEqual({
        Action: 'lambda:InvokeFunction',
        FunctionName: { 'Fn::GetAtt': [functionId(defaults), 'Arn'] },
        Principal: 'events.amazonaws.com',
        SourceArn: { 'Fn::GetAtt': [ruleId, 'Arn'] },
      });
    });
  });

  describe('least privilege', () => {
    it("reads and writes the state table's records, queries its index of items awaiting history, and only queries the memory table", () => {
      // Prepare
      const table = arn(defaults, defaults.stack.stateTable);
      const memory = arn(defaults, defaults.stack.memoryTable);

      // Act & Assess
      for (const action of ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']) {
        expect(resourcesAllowed(defaults, action)).toEqual([table]);
      }
      expect(sorted(resourcesAllowed(defaults, 'dynamodb:Query'))).toEqual(
        sorted([{ 'Fn::Join': ['', [table, '/index/AwaitingHistory']] }, memory]),
      );
    });

    it('reads and updates exactly the two event source mappings', () => {
      // Act & Assess
      for (const action of ['lambda:GetEventSourceMapping', 'lambda:UpdateEventSourceMapping']) {
        expect(sorted(resourcesAllowed(defaults, action))).toEqual(
          sorted([mappingArn(defaults, 'extract'), mappingArn(defaults, 'draft')]),
        );
      }
    });

    it('reads the attributes of the intake and draft queues and sends to the draft queue only', () => {
      // Act
      const attributes = resourcesAllowed(defaults, 'sqs:GetQueueAttributes');
      const sends = resourcesAllowed(defaults, 'sqs:SendMessage');

      // Assess
      expect(sorted(attributes)).toEqual(
        sorted([
          arn(defaults, defaults.stack.stage('extract').queue),
          arn(defaults, defaults.stack.stage('draft').queue),
        ]),
      );
      expect(sends).toEqual([arn(defaults, defaults.stack.stage('draft').queue)]);
    });

    it('reads the API key secret', () => {
      // Act & Assess
      expect(resourcesAllowed(defaults, 'secretsmanager:GetSecretValue')).toEqual([
        { Ref: defaults.logicalId(defaults.stack.apiKeySecret) },
      ]);
    });

    it('is allowed nothing else: no wildcard action, and a wildcard resource only for X-Ray', () => {
      // Act
      const statements = statementsOf(defaults);
      const actions = statements.flatMap(actionsOf);
      const wildcardResources = statements.filter((statement) => JSON.stringify(statement.Resource).includes('*'));

      // Assess
      expect(actions.filter((action) => action.includes('*'))).toEqual([]);
      expect(wildcardResources.flatMap(actionsOf).sort()).toEqual([
        'xray:PutTelemetryRecords',
        'xray:PutTraceSegments',
      ]);
      expect(statements.every((statement) => statement.Effect === 'Allow')).toBe(true);
      const services = new Set(actions.map((action) => action.split(':')[0]));
      expect([...services].sort()).toEqual(['dynamodb', 'lambda', 'secretsmanager', 'sqs', 'xray']);
      expect(actions.filter((action) => action.startsWith('lambda:')).sort()).toEqual([
        'lambda:GetEventSourceMapping',
        'lambda:UpdateEventSourceMapping',
      ]);
      expect(actions.filter((action) => action.startsWith('sqs:')).sort()).toEqual([
        'sqs:GetQueueAttributes',
        'sqs:GetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:SendMessage',
      ]);
    });
  });

  describe('alarms', () => {
    const topic = (synth: SynthesizedStack) => ({ Ref: synth.logicalId(synth.stack.observability.alarmTopic) });

    it.each(STAGES)('warns when the %s stage stays paused for the configured minutes', (stage) => {
      // Act
      const byDefault = alarmOf(defaults, 'stagePaused', stage, 'Warning');
      const configured = alarmOf(slow, 'stagePaused', stage, 'Warning');

      // Assess
      expect(byDefault).toMatchObject({
        metric: {
          namespace: 'Sluice',
          name: 'StagePaused',
          dimensions: { service: 'sluice', stage },
          stat: 'Maximum',
          period: 60,
        },
        threshold: 1,
        comparison: 'GreaterThanOrEqualToThreshold',
        evaluationPeriods: 10,
        datapointsToAlarm: 10,
        treatMissingData: 'notBreaching',
        actionsEnabled: true,
        alarmActions: [topic(defaults)],
        okActions: [topic(defaults)],
      });
      // One look per five-minute schedule: 12 minutes are three periods of five.
      expect(configured).toMatchObject({
        metric: { period: 300 },
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
      });
      expect(byDefault.description).toContain(`Runbook: docs/runbook.md#${RUNBOOK_SECTIONS.stagePaused}`);
    });

    it.each(STAGES)('raises a critical alarm when a resume of the %s stage is not verified', (stage) => {
      // Act
      const reading = alarmOf(defaults, 'resumeUnverified', stage, 'Critical');

      // Assess
      expect(reading).toMatchObject({
        metric: {
          namespace: 'Sluice',
          name: 'ResumeUnverified',
          dimensions: { service: 'sluice', stage },
          stat: 'Sum',
          period: 300,
        },
        threshold: 1,
        comparison: 'GreaterThanOrEqualToThreshold',
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: 'notBreaching',
        alarmActions: [topic(defaults)],
        okActions: [topic(defaults)],
      });
      expect(reading.description).toContain(`Runbook: docs/runbook.md#${RUNBOOK_SECTIONS.resumeUnverified}`);
    });

    it('raises a critical alarm when the supervisor fails invocations in a row', () => {
      // Act
      const byDefault = alarmOf(defaults, 'supervisorErrors', 'supervisor', 'Critical');
      const configured = alarmOf(slow, 'supervisorErrors', 'supervisor', 'Critical');

      // Assess
      expect(byDefault).toMatchObject({
        metric: {
          namespace: 'AWS/Lambda',
          name: 'Errors',
          dimensions: { FunctionName: { Ref: functionId(defaults) } },
          stat: 'Sum',
          period: 60,
        },
        threshold: 0,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        treatMissingData: 'notBreaching',
        alarmActions: [topic(defaults)],
        okActions: [topic(defaults)],
      });
      expect(configured).toMatchObject({ metric: { period: 300 }, evaluationPeriods: 4, datapointsToAlarm: 4 });
      expect(byDefault.description).toContain(`Runbook: docs/runbook.md#${RUNBOOK_SECTIONS.supervisorErrors}`);
    });

    it('never evaluates more than the day CloudWatch allows, whatever the schedule', () => {
      // Prepare
      const weekly = synthesizeStack({
        supervisor: { intervalSeconds: 420 },
        alarms: { stagePausedMinutes: 1440, supervisorFailedInvocations: 24 },
      });

      // Act
      const readings = weekly.stack.observability.alarms
        .filter((alarm) => ['stagePaused', 'supervisorErrors'].includes(alarm.kind))
        .map((alarm) => readAlarm(weekly, weekly.logicalId(alarm.alarm)));

      // Assess
      expect(readings).toHaveLength(3);
      for (const reading of readings) {
        expect(reading.metric?.period).toBe(420);
        expect(reading.evaluationPeriods * (reading.metric?.period ?? 0)).toBeLessThanOrEqual(86_400);
      }
      expect(alarmOf(weekly, 'stagePaused', 'draft', 'Warning').evaluationPeriods).toBe(205);
      expect(alarmOf(weekly, 'supervisorErrors', 'supervisor', 'Critical').evaluationPeriods).toBe(24);
    });
  });

  describe('dashboard', () => {
    it('shows the paused stages against their alarm line', () => {
      // Act
      const paused = graph(row(defaults, 'Self-healing'), 'Stages paused (1 = event source disabled)');

      // Assess
      expect(paused.metrics).toEqual(
        STAGES.map((stage) => expect.objectContaining(sluiceMetric('StagePaused', { stage }, 'Maximum'))),
      );
      expect(paused.annotations.map(({ value }) => value)).toEqual([1, 1]);
    });

    it.each([
      ['extract', 'Extract', 5],
      ['draft', 'Draft', 3],
    ] as const)("shows the %s stage's effective concurrency against its configured maximum", (stage, title, max) => {
      // Act
      const concurrency = graph(
        row(defaults, 'Self-healing'),
        `${title}: effective concurrency against the configured maximum`,
      );

      // Assess
      expect(concurrency.metrics).toEqual([
        expect.objectContaining(sluiceMetric('EffectiveConcurrency', { stage }, 'Minimum')),
      ]);
      expect(concurrency.annotations).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ value: max, label: `Configured maximum (${max})` }),
          expect.objectContaining({ value: 2 }),
        ]),
      );
    });

    it('shows automatic pauses and resumes, verified and unverified resumes, probes and re-enriched items', () => {
      // Act
      const healing = row(slow, 'Self-healing');

      // Assess
      expect(graph(healing, 'Automatic pauses and resumes').metrics).toEqual(
        STAGES.flatMap((stage) => [
          expect.objectContaining(sluiceMetric('StageAutoPaused', { stage }, 'Sum')),
          expect.objectContaining(sluiceMetric('StageAutoResumed', { stage }, 'Sum')),
        ]),
      );
      const resumes = graph(healing, 'Resumes verified and unverified');
      expect(resumes.metrics).toEqual(
        STAGES.flatMap((stage) => [
          expect.objectContaining(sluiceMetric('ResumeVerified', { stage }, 'Sum')),
          expect.objectContaining(sluiceMetric('ResumeUnverified', { stage }, 'Sum')),
        ]),
      );
      expect(resumes.annotations.map(({ value }) => value)).toEqual([1, 1]);
      expect(graph(healing, 'Probe calls and failures by model').metrics).toEqual(
        ['gpt-4o-mini', 'backup-model', 'gpt-4.1-mini'].flatMap((dependency) => [
          expect.objectContaining(sluiceMetric('ProbeCalls', { dependency }, 'Sum')),
          expect.objectContaining(sluiceMetric('ProbeFailures', { dependency }, 'Sum')),
        ]),
      );
      expect(graph(healing, 'Items re-enriched (re-queued for a redraft with history)').metrics).toEqual([
        expect.objectContaining(sluiceMetric('ItemsReenriched', {}, 'Sum')),
      ]);
    });

    it("shows the supervisor's invocations, errors against its alarm line, and throttles", () => {
      // Act
      const fn = graph(row(defaults, 'Self-healing'), 'Supervisor invocations, errors and throttles');

      // Assess
      const lambda = (name: string) =>
        expect.objectContaining({
          namespace: 'AWS/Lambda',
          name,
          dimensions: { FunctionName: `{{Ref:${functionId(defaults)}}}` },
          stat: 'Sum',
        });
      expect(fn.metrics).toEqual([lambda('Invocations'), lambda('Errors'), lambda('Throttles')]);
      expect(fn.annotations.map(({ value }) => value)).toEqual([0]);
    });
  });

  it('outputs the function name', () => {
    // Act
    const outputs = defaults.template.toJSON().Outputs as Record<string, { Value: unknown }>;

    // Assess
    expect(outputs.SupervisorFunctionName?.Value).toEqual({ Ref: functionId(defaults) });
  });

  describe('switched off', () => {
    it('creates no supervisor function, schedule, permission, invoke config or output', () => {
      // Act
      const functions = resourcesOfType(disabled.template, 'AWS::Lambda::Function');

      // Assess
      expect(disabled.stack.supervisor).toBeUndefined();
      expect(Object.keys(functions).sort()).toEqual(
        STAGES.map((stage) => disabled.logicalId(disabled.stack.stage(stage).function)).sort(),
      );
      for (const type of ['AWS::Events::Rule', 'AWS::Lambda::Permission', 'AWS::Lambda::EventInvokeConfig']) {
        disabled.template.resourceCountIs(type, 0);
      }
      expect(Object.keys(disabled.template.toJSON().Outputs)).not.toContain('SupervisorFunctionName');
    });

    it('grants nobody access to the event source mappings', () => {
      // Act
      const policies = JSON.stringify(resourcesOfType(disabled.template, 'AWS::IAM::Policy'));

      // Assess
      expect(policies).not.toContain('event-source-mapping');
      expect(policies).not.toContain('lambda:UpdateEventSourceMapping');
    });

    it('raises no supervisor alarm and draws no self-healing row', () => {
      // Act
      const kinds = disabled.stack.observability.alarms.map((alarm) => alarm.kind);

      // Assess
      for (const kind of ['stagePaused', 'resumeUnverified', 'supervisorErrors'] as const) {
        expect(kinds).not.toContain(kind);
      }
      expect(() => row(disabled, 'Self-healing')).toThrow('no dashboard row Self-healing');
    });
  });
});
