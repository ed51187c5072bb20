import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { SHIPPED_STAGES as STAGES } from '#functions/pipeline.ts';
import { ConfigError, loadConfig, type SluiceConfigInput } from '#lib/config.ts';
import { DEFAULT_RUNBOOK_URL, RUNBOOK_SECTIONS } from '#lib/constructs/alarms.ts';
import { PROJECT_ROOT } from '#lib/sluice-stack.ts';
import { DIMENSION_SETS, METRIC_CATALOGUE, type MetricName } from '#shared/metric-catalogue.ts';
import {
  alarmOf,
  dashboardOf,
  dashboardRows,
  flat,
  functionDimensions,
  graph,
  queueDimensions,
  readAlarm,
  row,
  sluiceDimensions,
  sluiceMetric,
  topicRef,
} from './monitoring-readers.ts';
import { resourcesOfType, synthesizeStack } from './stack-fixture.ts';

const TUNED: SluiceConfigInput = {
  prices: { 'backup-model': { inputPerMillionUsd: 1, outputPerMillionUsd: 2 } },
  llm: { fallbackModel: 'backup-model' },
  alarmEmail: 'ops@example.com',
  alarms: {
    runbookUrl: 'https://git.example.com/sluice/blob/main/docs/runbook.md',
    oldestMessageMinutes: 30,
    functionErrorMinutes: 10,
    durationPercentOfTimeout: 50,
    breakerOpenMinutes: 3,
    budgetWarningPercent: 70,
    degradedRatio: 0.5,
    degradedWindowMinutes: 120,
    degradedMinPublished: 25,
    stagePausedMinutes: 20,
    supervisorFailedInvocations: 5,
  },
};

const defaults = synthesizeStack();
const tuned = synthesizeStack(TUNED);

/** Stage × model pairs of the tuned config: each stage's model and the fallback. */
const TUNED_CALLS = [
  { stage: 'extract', model: 'gpt-4o-mini' },
  { stage: 'extract', model: 'backup-model' },
  { stage: 'draft', model: 'gpt-4.1-mini' },
  { stage: 'draft', model: 'backup-model' },
] as const;

// ---------------------------------------------------------------------------------------------------------------

describe('Construct: Observability', () => {
  describe('alarms', () => {
    it('raises exactly the documented alarms, each keyed by severity', () => {
      // Act
      const alarms = defaults.stack.observability.alarms.map(
        ({ kind, subject, severity }) => `${kind} ${subject} ${severity}`,
      );

      // Assess
      expect(alarms.sort()).toEqual(
        [
          'deadLetters intake Critical',
          'deadLetters draft Critical',
          'deadLetters published Critical',
          'oldestMessage intake Warning',
          'oldestMessage draft Warning',
          'functionErrors extract Critical',
          'functionErrors draft Critical',
          'functionThrottles extract Warning',
          'functionThrottles draft Warning',
          'functionDuration extract Warning',
          'functionDuration draft Warning',
          'breakerOpen gpt-4o-mini Critical',
          'breakerOpen gpt-4.1-mini Critical',
          'breakerOpen memory Warning',
          'secretUnavailable extract Critical',
          'secretUnavailable draft Critical',
          'budget pipeline Warning',
          'budget pipeline Critical',
          'rebilledCalls pipeline Warning',
          'degradedRatio pipeline Warning',
          'stagePaused extract Warning',
          'stagePaused draft Warning',
          'resumeUnverified extract Critical',
          'resumeUnverified draft Critical',
          'supervisorErrors supervisor Critical',
        ].sort(),
      );
      expect(Object.keys(resourcesOfType(defaults.template, 'AWS::CloudWatch::Alarm'))).toHaveLength(alarms.length);
    });

    it('makes every alarm notify the alarm topic when it fires and when it recovers, and nothing else', () => {
      // Prepare
      const topic = topicRef(defaults);

      // Act
      const readings = defaults.stack.observability.alarms.map((alarm) =>
        readAlarm(defaults, defaults.logicalId(alarm.alarm)),
      );

      // Assess
      for (const reading of readings) {
        expect(reading.actionsEnabled).toBe(true);
        expect(reading.alarmActions).toEqual([topic]);
        expect(reading.okActions).toEqual([topic]);
        expect(reading.insufficientDataActions).toEqual([]);
      }
    });

    it('links every alarm description to its runbook section', () => {
      // Act
      const links = defaults.stack.observability.alarms.map((alarm) => ({
        kind: alarm.kind,
        description: readAlarm(defaults, defaults.logicalId(alarm.alarm)).description,
      }));

      // Assess
      for (const { kind, description } of links) {
        expect(description).toMatch(new RegExp(`Runbook: ${DEFAULT_RUNBOOK_URL}#${RUNBOOK_SECTIONS[kind]}$`));
        expect(description.length).toBeLessThanOrEqual(1024);
      }
    });

    it('links to the configured runbook URL', () => {
      // Act
      const reading = alarmOf(tuned, 'deadLetters', 'intake', 'Critical');

      // Assess
      expect(reading.description).toContain(
        'Runbook: https://git.example.com/sluice/blob/main/docs/runbook.md#dlq-has-messages',
      );
    });

    it('names alarms after the stack and their severity', () => {
      // Act
      const names = defaults.stack.observability.alarms.map((alarm) => ({
        severity: alarm.severity,
        name: readAlarm(defaults, defaults.logicalId(alarm.alarm)).name,
      }));

      // Assess
      for (const { severity, name } of names) expect(name).toMatch(new RegExp(`^Sluice-.+-${severity}$`));
      expect(new Set(names.map(({ name }) => name)).size).toBe(names.length);
    });

    it.each(['intake', 'draft', 'published'] as const)(
      'fires when the %s DLQ holds any visible message, not on messages sent to it',
      (queue) => {
        // Act
        const reading = alarmOf(defaults, 'deadLetters', queue, 'Critical');

        // Assess
        expect(reading).toMatchObject({
          metric: {
            namespace: 'AWS/SQS',
            name: 'ApproximateNumberOfMessagesVisible',
            dimensions: queueDimensions(defaults, queue, true),
            stat: 'Maximum',
            period: 300,
          },
          threshold: 0,
          comparison: 'GreaterThanThreshold',
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          treatMissingData: 'notBreaching',
        });
      },
    );

    it.each(['intake', 'draft'] as const)('fires when the oldest message on the %s queue is too old', (queue) => {
      // Act
      const byDefault = alarmOf(defaults, 'oldestMessage', queue, 'Warning');
      const configured = alarmOf(tuned, 'oldestMessage', queue, 'Warning');

      // Assess
      expect(byDefault).toMatchObject({
        metric: {
          namespace: 'AWS/SQS',
          name: 'ApproximateAgeOfOldestMessage',
          dimensions: queueDimensions(defaults, queue, false),
          stat: 'Maximum',
          period: 300,
        },
        threshold: 3600,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: 'notBreaching',
      });
      expect(configured.threshold).toBe(30 * 60);
    });

    it('watches no message age on the published queue, which your consumer reads', () => {
      // Act
      const published = defaults.stack.observability.alarms.filter(
        (alarm) => alarm.kind === 'oldestMessage' && alarm.subject === 'published',
      );

      // Assess
      expect(published).toEqual([]);
    });

    it.each(STAGES)('fires on any error of the %s function within the configured window', (stage) => {
      // Act
      const byDefault = alarmOf(defaults, 'functionErrors', stage, 'Critical');
      const configured = alarmOf(tuned, 'functionErrors', stage, 'Critical');

      // Assess
      expect(byDefault).toMatchObject({
        metric: {
          namespace: 'AWS/Lambda',
          name: 'Errors',
          dimensions: functionDimensions(defaults, stage),
          stat: 'Sum',
          period: 300,
        },
        threshold: 0,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: 'notBreaching',
      });
      expect(configured.metric?.period).toBe(600);
    });

    it.each(STAGES)('fires on any throttle of the %s function', (stage) => {
      // Act
      const reading = alarmOf(defaults, 'functionThrottles', stage, 'Warning');

      // Assess
      expect(reading).toMatchObject({
        metric: {
          namespace: 'AWS/Lambda',
          name: 'Throttles',
          dimensions: functionDimensions(defaults, stage),
          stat: 'Sum',
          period: 300,
        },
        threshold: 0,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: 'notBreaching',
      });
    });

    it.each([
      ['extract', 120],
      ['draft', 300],
    ] as const)('fires when the %s function p99 duration nears its %i s timeout', (stage, timeoutSeconds) => {
      // Act
      const byDefault = alarmOf(defaults, 'functionDuration', stage, 'Warning');
      const configured = alarmOf(tuned, 'functionDuration', stage, 'Warning');

      // Assess
      expect(byDefault).toMatchObject({
        metric: {
          namespace: 'AWS/Lambda',
          name: 'Duration',
          dimensions: functionDimensions(defaults, stage),
          stat: 'p99',
          period: 300,
        },
        threshold: timeoutSeconds * 1000 * 0.8,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
        treatMissingData: 'notBreaching',
      });
      expect(configured.threshold).toBe(timeoutSeconds * 1000 * 0.5);
    });

    it.each([
      ['gpt-4o-mini', 'Critical'],
      ['gpt-4.1-mini', 'Critical'],
      ['memory', 'Warning'],
    ] as const)('fires when callers find the %s breaker open for consecutive minutes', (dependency, severity) => {
      // Act
      const byDefault = alarmOf(defaults, 'breakerOpen', dependency, severity);
      const configured = alarmOf(tuned, 'breakerOpen', dependency, severity);

      // Assess
      expect(byDefault).toMatchObject({
        metric: {
          namespace: 'Sluice',
          name: 'BreakerOpenWaits',
          dimensions: sluiceDimensions({ dependency }),
          stat: 'Sum',
          period: 60,
        },
        threshold: 0,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 10,
        datapointsToAlarm: 10,
        treatMissingData: 'notBreaching',
      });
      expect(configured).toMatchObject({ evaluationPeriods: 3, datapointsToAlarm: 3 });
    });

    it('watches the breaker of the fallback model too', () => {
      // Act
      const reading = alarmOf(tuned, 'breakerOpen', 'backup-model', 'Critical');

      // Assess
      expect(reading.metric).toMatchObject({ name: 'BreakerOpenWaits', dimensions: { dependency: 'backup-model' } });
    });

    it.each([
      ['Warning', 80, 70],
      ['Critical', 100, 100],
    ] as const)(
      'raises a %s when the day has committed %i %% of its budget',
      (severity, threshold, configuredThreshold) => {
        // Act
        const byDefault = alarmOf(defaults, 'budget', 'pipeline', severity);
        const configured = alarmOf(tuned, 'budget', 'pipeline', severity);

        // Assess
        expect(byDefault).toMatchObject({
          metric: {
            namespace: 'Sluice',
            name: 'BudgetUsedPercent',
            dimensions: sluiceDimensions({}),
            stat: 'Maximum',
            period: 300,
          },
          threshold,
          comparison: 'GreaterThanOrEqualToThreshold',
          evaluationPeriods: 1,
          datapointsToAlarm: 1,
          // A spent budget stops the calls that report the share: the alarm must hold its state meanwhile.
          treatMissingData: 'ignore',
        });
        expect(configured.threshold).toBe(configuredThreshold);
      },
    );

    it('fires on any re-billed call of any stage and model, the fallback included', () => {
      // Act
      const reading = alarmOf(tuned, 'rebilledCalls', 'pipeline', 'Warning');

      // Assess
      expect(reading.expression).toMatch(/^SUM\(\[.+\]\)$/);
      const summed = (reading.expression ?? '').slice('SUM(['.length, -2).split(', ');
      expect(summed.map((id) => reading.metrics[id])).toEqual(
        TUNED_CALLS.map(({ stage, model }) => ({
          namespace: 'Sluice',
          name: 'RebilledCalls',
          dimensions: sluiceDimensions({ model, stage }),
          stat: 'Sum',
          period: 300,
        })),
      );
      expect(reading).toMatchObject({
        threshold: 0,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: 'notBreaching',
      });
    });

    it('fires when the degraded share of published items passes the threshold, once enough were published', () => {
      // Act
      const byDefault = alarmOf(defaults, 'degradedRatio', 'pipeline', 'Warning');
      const configured = alarmOf(tuned, 'degradedRatio', 'pipeline', 'Warning');

      // Assess
      expect(byDefault).toMatchObject({
        expression: 'IF(published >= 10, FILL(degraded, 0) / published, 0)',
        expressions: {
          published: 'SUM([published0, published1])',
          degraded: 'SUM([degraded0, degraded1])',
        },
        threshold: 0.2,
        comparison: 'GreaterThanThreshold',
        evaluationPeriods: 1,
        datapointsToAlarm: 1,
        treatMissingData: 'notBreaching',
      });
      for (const [index, stage] of STAGES.entries()) {
        expect(byDefault.metrics[`published${index}`]).toEqual({
          namespace: 'Sluice',
          name: 'ItemsPublished',
          dimensions: sluiceDimensions({ stage }),
          stat: 'Sum',
          period: 3600,
        });
        expect(byDefault.metrics[`degraded${index}`]).toMatchObject({ name: 'ItemsDegraded', period: 3600 });
      }
      expect(configured).toMatchObject({
        expression: 'IF(published >= 25, FILL(degraded, 0) / published, 0)',
        threshold: 0.5,
      });
      expect(configured.metrics.published0?.period).toBe(7200);
    });
  });

  describe('alarm topic', () => {
    it('encrypts the topic with a rotating key CloudWatch may use', () => {
      // Prepare
      const topics = Object.values(resourcesOfType(defaults.template, 'AWS::SNS::Topic'));
      const keys = resourcesOfType(defaults.template, 'AWS::KMS::Key');

      // Act
      const keyReference = z
        .object({ 'Fn::GetAtt': z.tuple([z.string(), z.literal('Arn')]) })
        .parse(topics[0]?.Properties?.KmsMasterKeyId);
      const key = keys[keyReference['Fn::GetAtt'][0]]?.Properties;

      // Assess
      expect(topics).toHaveLength(1);
      expect(key?.EnableKeyRotation).toBe(true);
      expect(key?.KeyPolicy).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          }),
        ]),
      });
    });

    it("lets CloudWatch use the topic's key only for this account's alarms", () => {
      // Prepare
      const keys = Object.values(resourcesOfType(defaults.template, 'AWS::KMS::Key'));

      // Act
      const policy = keys[0]?.Properties?.KeyPolicy as { Statement: Record<string, unknown>[] } | undefined;
      const statements = policy?.Statement ?? [];
      const forCloudWatch = statements.filter(
        (statement) => JSON.stringify(statement.Principal) === JSON.stringify({ Service: 'cloudwatch.amazonaws.com' }),
      );

      // Assess
      expect(keys).toHaveLength(1);
      expect(forCloudWatch).toEqual([
        {
          Effect: 'Allow',
          Principal: { Service: 'cloudwatch.amazonaws.com' },
          Action: ['kms:Decrypt', 'kms:GenerateDataKey*'],
          Resource: '*',
          Condition: {
            ArnLike: {
              'aws:SourceArn': {
                'Fn::Join': [
                  '',
                  [
                    'arn:',
                    { Ref: 'AWS::Partition' },
                    ':cloudwatch:',
                    { Ref: 'AWS::Region' },
                    ':',
                    { Ref: 'AWS::AccountId' },
                    ':alarm:*',
                  ],
                ],
              },
            },
            StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          },
        },
      ]);
    });

    it("accepts publishing only over TLS, and from this account's alarms", () => {
      // Act
      const policies = Object.values(resourcesOfType(defaults.template, 'AWS::SNS::TopicPolicy'));

      // Assess
      expect(policies).toHaveLength(1);
      expect(policies[0]?.Properties?.Topics).toEqual([topicRef(defaults)]);
      expect(policies[0]?.Properties?.PolicyDocument).toMatchObject({
        Statement: expect.arrayContaining([
          expect.objectContaining({
            Effect: 'Deny',
            Principal: '*',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
          expect.objectContaining({
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Condition: expect.objectContaining({ ArnLike: expect.anything() }),
          }),
        ]),
      });
    });

    it('subscribes the configured email address to the topic', () => {
      // Act
      const subscriptions = Object.values(resourcesOfType(tuned.template, 'AWS::SNS::Subscription'));

      // Assess
      expect(subscriptions.map((subscription) => subscription.Properties)).toEqual([
        { Protocol: 'email', Endpoint: 'ops@example.com', TopicArn: topicRef(tuned) },
      ]);
    });

    it('subscribes nobody when no email address is configured', () => {
      // Act
      const subscriptions = resourcesOfType(defaults.template, 'AWS::SNS::Subscription');

      // Assess
      expect(subscriptions).toEqual({});
    });

    it('names the topic and the dashboard in the stack outputs', () => {
      // Act
      const outputs = defaults.template.toJSON().Outputs as Record<string, { Value: unknown }>;

      // Assess
      expect(outputs.AlarmTopicArn?.Value).toEqual(topicRef(defaults));
      expect(outputs.DashboardName?.Value).toEqual({ Ref: defaults.logicalId(defaults.stack.observability.dashboard) });
    });
  });

  describe('dashboard', () => {
    it('has one dashboard, named after the stack and region, showing the last day by default', () => {
      // Act
      const { properties, body } = dashboardOf(defaults);

      // Assess
      expect(properties.DashboardName).toEqual({ 'Fn::Join': ['', ['Sluice-', { Ref: 'AWS::Region' }]] });
      expect(body.start).toBe('-P1D');
    });

    it('reads top-down: flow, queues, functions, LLM calls, token economics, degraded and re-billed, self-healing', () => {
      // Act
      const titles = dashboardRows(defaults).map(({ title }) => title);

      // Assess
      expect(titles).toEqual([
        'sluice',
        'Pipeline flow',
        'Queues',
        'Functions',
        'LLM calls',
        'Token economics',
        'Degraded and re-billed',
        'Self-healing',
      ]);
    });

    it('plots only catalogue metrics, each with its catalogue dimension set and service=sluice', () => {
      // Act
      const custom = dashboardRows(tuned)
        .flatMap(({ graphs }) => graphs)
        .flatMap(({ metrics }) => metrics)
        .filter((metric) => metric.namespace === 'Sluice');

      // Assess
      expect(custom.length).toBeGreaterThan(0);
      for (const metric of custom) {
        const definition = METRIC_CATALOGUE[metric.name as MetricName];
        expect(definition, `${metric.name} is in the catalogue`).toBeDefined();
        expect(Object.keys(metric.dimensions).sort()).toEqual([...DIMENSION_SETS[definition.dimensions]].sort());
        expect(metric.dimensions.service).toBe('sluice');
      }
    });

    it('shows the flow of items per stage', () => {
      // Act
      const flow = row(defaults, 'Pipeline flow');

      // Assess
      const expected: [string, MetricName][] = [
        ['Received', 'ItemsReceived'],
        ['Extracted', 'ItemsExtracted'],
        ['Published', 'ItemsPublished'],
        ['Dead-lettered', 'ItemsDeadLettered'],
        ['Published degraded', 'ItemsDegraded'],
        ['Stale deliveries (acknowledged)', 'StaleDeliveries'],
      ];
      expect(flow.graphs.map(({ title }) => title)).toEqual(expected.map(([title]) => title));
      for (const [title, name] of expected) {
        expect(graph(flow, title).metrics).toEqual(
          STAGES.map((stage) => expect.objectContaining(sluiceMetric(name, { stage }, 'Sum'))),
        );
      }
    });

    it('shows depth, oldest message age and in-flight messages of each queue next to its DLQ', () => {
      // Act
      const queues = row(defaults, 'Queues');

      // Assess
      expect(queues.headers).toEqual([
        expect.stringContaining('Intake queue'),
        expect.stringContaining('Draft queue'),
        expect.stringContaining('Published queue'),
      ]);
      (['intake', 'draft', 'published'] as const).forEach((queue, index) => {
        const plotted = (title: string) => graph(queues, title, index);
        const pair = (name: string) => [
          expect.objectContaining({
            namespace: 'AWS/SQS',
            name,
            dimensions: flat(queueDimensions(defaults, queue, false)),
          }),
          expect.objectContaining({
            namespace: 'AWS/SQS',
            name,
            dimensions: flat(queueDimensions(defaults, queue, true)),
          }),
        ];
        expect(plotted('Depth (messages visible)').metrics).toEqual(pair('ApproximateNumberOfMessagesVisible'));
        expect(plotted('Age of the oldest message').metrics).toEqual(pair('ApproximateAgeOfOldestMessage'));
        expect(plotted('In flight (received, not yet deleted)').metrics).toEqual(
          pair('ApproximateNumberOfMessagesNotVisible'),
        );
        expect(plotted('Depth (messages visible)').annotations.map(({ value }) => value)).toEqual([0]);
        expect(plotted('Age of the oldest message').annotations.map(({ value }) => value)).toEqual(
          queue === 'published' ? [] : [3600],
        );
      });
    });

    it('shows each function against its timeout and its semaphore', () => {
      // Act
      const functions = row(defaults, 'Functions');

      // Assess
      expect(functions.headers).toEqual([
        expect.stringContaining('Extract function'),
        expect.stringContaining('Draft function'),
      ]);
      (
        [
          ['extract', 120_000, 5],
          ['draft', 300_000, 3],
        ] as const
      ).forEach(([stage, timeoutMs, maxConcurrency], index) => {
        const lambda = (name: string, stat: string) =>
          expect.objectContaining({
            namespace: 'AWS/Lambda',
            name,
            dimensions: flat(functionDimensions(defaults, stage)),
            stat,
          });
        expect(graph(functions, 'Invocations', index).metrics).toEqual([lambda('Invocations', 'Sum')]);
        expect(graph(functions, 'Errors and throttles', index).metrics).toEqual([
          lambda('Errors', 'Sum'),
          lambda('Throttles', 'Sum'),
        ]);
        const duration = graph(functions, 'Duration against the timeout', index);
        expect(duration.metrics).toEqual([lambda('Duration', 'p50'), lambda('Duration', 'p99')]);
        expect(duration.annotations).toEqual(
          expect.arrayContaining([
            expect.objectContaining({ value: timeoutMs, label: expect.stringMatching(/^Timeout/) }),
          ]),
        );
        const concurrency = graph(functions, 'Concurrent executions against the semaphore', index);
        expect(concurrency.metrics).toEqual([lambda('ConcurrentExecutions', 'Maximum')]);
        expect(concurrency.annotations.map(({ value }) => value)).toEqual([maxConcurrency]);
      });
    });

    it('shows LLM latency, 429s, failures, waits, breakers, retries and deferrals by stage and model', () => {
      // Act
      const llm = row(tuned, 'LLM calls');

      // Assess
      for (const stage of STAGES) {
        const title = `${stage.charAt(0).toUpperCase()}${stage.slice(1)}: LLM latency p50 / p90 / p99 (ms)`;
        expect(graph(llm, title).metrics).toEqual(
          TUNED_CALLS.filter((call) => call.stage === stage).flatMap(({ model }) =>
            ['p50', 'p90', 'p99'].map((stat) =>
              expect.objectContaining(sluiceMetric('LlmLatency', { stage, model }, stat)),
            ),
          ),
        );
      }
      const perCall = (name: MetricName) =>
        TUNED_CALLS.map(({ stage, model }) => expect.objectContaining(sluiceMetric(name, { stage, model }, 'Sum')));
      expect(graph(llm, '429s from the provider').metrics).toEqual(perCall('LlmRateLimited'));
      expect(graph(llm, 'Failed LLM calls').metrics).toEqual(perCall('LlmErrors'));
      expect(graph(llm, 'Rate limiter waits').metrics).toEqual(perCall('LimiterWaits'));
      expect(graph(llm, 'Breakers: opened and open-waits').metrics).toEqual(
        ['gpt-4o-mini', 'backup-model', 'gpt-4.1-mini', 'memory'].flatMap((dependency) => [
          expect.objectContaining(sluiceMetric('BreakerOpened', { dependency }, 'Sum')),
          expect.objectContaining(sluiceMetric('BreakerOpenWaits', { dependency }, 'Sum')),
        ]),
      );
      expect(graph(llm, 'Breakers: opened and open-waits').annotations.map(({ value }) => value)).toEqual([0, 0, 0, 0]);
      expect(graph(llm, 'Retries (failed attempts) and deferrals (waits)').metrics).toEqual(
        STAGES.flatMap((stage) => [
          expect.objectContaining(sluiceMetric('Retries', { stage }, 'Sum')),
          expect.objectContaining(sluiceMetric('Deferrals', { stage }, 'Sum')),
        ]),
      );
    });

    it('shows tokens and dollars as daily sums over two weeks, and the budget against its alarm lines', () => {
      // Act
      const economics = row(tuned, 'Token economics');

      // Assess
      const daily = (name: MetricName) =>
        TUNED_CALLS.map(({ stage, model }) =>
          expect.objectContaining({ ...sluiceMetric(name, { stage, model }, 'Sum'), period: 86_400 }),
        );
      for (const [title, name] of [
        ['Prompt tokens per day', 'PromptTokens'],
        ['Completion tokens per day', 'CompletionTokens'],
        ['LLM cost per day (USD)', 'LlmCostUsd'],
      ] as const) {
        expect(graph(economics, title)).toMatchObject({ start: '-P14D' });
        expect(graph(economics, title).metrics).toEqual(daily(name));
      }
      const budget = graph(economics, 'Daily budget used (%)');
      expect(budget.metrics).toEqual([expect.objectContaining(sluiceMetric('BudgetUsedPercent', {}, 'Maximum'))]);
      expect(budget.annotations.map(({ value }) => value)).toEqual([70, 100]);
      expect(
        graph(row(defaults, 'Token economics'), 'Daily budget used (%)').annotations.map(({ value }) => value),
      ).toEqual([80, 100]);
    });

    it('shows degraded items, the degraded ratio against its threshold, and re-billed calls', () => {
      // Act
      const quality = row(defaults, 'Degraded and re-billed');

      // Assess
      expect(graph(quality, 'Degraded items').metrics).toEqual(
        STAGES.map((stage) => expect.objectContaining(sluiceMetric('ItemsDegraded', { stage }, 'Sum'))),
      );
      const ratio = graph(quality, 'Degraded / published (per 60 minutes)');
      expect(ratio.metrics[0]).toMatchObject({ expression: 'IF(published >= 10, FILL(degraded, 0) / published, 0)' });
      expect(ratio.annotations.map(({ value }) => value)).toEqual([0.2]);
      const rebilled = graph(quality, 'Re-billed calls (repeated after a crash)');
      expect(rebilled.metrics).toEqual([
        expect.objectContaining(sluiceMetric('RebilledCalls', { stage: 'extract', model: 'gpt-4o-mini' }, 'Sum')),
        expect.objectContaining(sluiceMetric('RebilledCalls', { stage: 'draft', model: 'gpt-4.1-mini' }, 'Sum')),
        expect.objectContaining({ expression: 'SUM([rebilled0, rebilled1])' }),
      ]);
      expect(rebilled.annotations.map(({ value }) => value)).toEqual([0]);
    });
  });
});

describe('Runbook: docs/runbook.md', () => {
  const runbook = readFileSync(join(PROJECT_ROOT, 'docs', 'runbook.md'), 'utf8');
  /** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
  const anchor = (heading: string) =>
    heading
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
  const sections = new Map(
    runbook
      .split(/^## /m)
      .slice(1)
      .map((section) => [anchor(section.split('\n')[0] ?? ''), section] as const),
  );

  it.each(Object.entries(RUNBOOK_SECTIONS))(
    'has the %s alarm section #%s, saying what it means, how to confirm, what to do and not to do',
    (_kind, section) => {
      // Act
      const text = sections.get(section);

      // Assess
      expect(text).toBeDefined();
      for (const part of ['**What it means.**', '**Confirm.**', '**What to do.**', '**What not to do.**']) {
        expect(text).toContain(part);
      }
    },
  );

  it('explains both ways of redriving a DLQ', () => {
    // Act
    const redrive = sections.get('redriving-a-dlq');

    // Assess
    expect(redrive).toContain('Start DLQ redrive');
    expect(redrive).toContain('aws sqs start-message-move-task --source-arn');
  });

  it('links only to sections it has', () => {
    // Act
    const links = [...runbook.matchAll(/\]\(#([^)]+)\)/g)].map((match) => match[1]);

    // Assess
    expect(links.length).toBeGreaterThan(0);
    for (const link of links) expect(sections.has(link ?? ''), `#${link}`).toBe(true);
  });
});

describe('Config: alarms and alarmEmail', () => {
  function problemsOf(raw: unknown): string {
    try {
      loadConfig(raw);
    } catch (error) {
      if (error instanceof ConfigError) return error.message;
      throw error;
    }
    throw new Error('expected loadConfig to reject the config');
  }

  it('fills every alarm threshold with its default and subscribes nobody', () => {
    // Act
    const config = loadConfig({});

    // Assess
    expect(config.alarms).toEqual({
      oldestMessageMinutes: 60,
      functionErrorMinutes: 5,
      durationPercentOfTimeout: 80,
      breakerOpenMinutes: 10,
      budgetWarningPercent: 80,
      degradedRatio: 0.2,
      degradedWindowMinutes: 60,
      degradedMinPublished: 10,
      stagePausedMinutes: 10,
      supervisorFailedInvocations: 3,
    });
    expect(config.alarmEmail).toBeUndefined();
  });

  it('keeps the configured thresholds, runbook URL and email', () => {
    // Act
    const config = loadConfig(TUNED);

    // Assess
    expect(config.alarms).toEqual(TUNED.alarms);
    expect(config.alarmEmail).toBe('ops@example.com');
  });

  it.each<[string, unknown, string]>([
    [
      'an age of 0 minutes',
      { alarms: { oldestMessageMinutes: 0 } },
      'alarms.oldestMessageMinutes must be between 1 and 20160 (got 0)',
    ],
    [
      'a fractional error window',
      { alarms: { functionErrorMinutes: 2.5 } },
      'alarms.functionErrorMinutes must be a whole number between 1 and 60 (got 2.5)',
    ],
    [
      'a duration past the timeout',
      { alarms: { durationPercentOfTimeout: 101 } },
      'alarms.durationPercentOfTimeout must be between 10 and 100 (got 101)',
    ],
    [
      'a breaker run longer than an hour',
      { alarms: { breakerOpenMinutes: 61 } },
      'alarms.breakerOpenMinutes must be between 1 and 60 (got 61)',
    ],
    [
      'a budget warning at 100 %',
      { alarms: { budgetWarningPercent: 100 } },
      'alarms.budgetWarningPercent must be between 1 and 99 (got 100)',
    ],
    [
      'a degraded ratio above 1',
      { alarms: { degradedRatio: 1.5 } },
      'alarms.degradedRatio must be between 0 and 1 (got 1.5)',
    ],
    [
      'a degraded window of 4 minutes',
      { alarms: { degradedWindowMinutes: 4 } },
      'alarms.degradedWindowMinutes must be between 5 and 1440 (got 4)',
    ],
    [
      'no minimum of published items',
      { alarms: { degradedMinPublished: 0 } },
      'alarms.degradedMinPublished must be between 1 and 100000 (got 0)',
    ],
    [
      'a stage pause alarm later than a day',
      { alarms: { stagePausedMinutes: 1441 } },
      'alarms.stagePausedMinutes must be between 1 and 1440 (got 1441)',
    ],
    [
      'no failed supervisor invocation',
      { alarms: { supervisorFailedInvocations: 0 } },
      'alarms.supervisorFailedInvocations must be between 1 and 24 (got 0)',
    ],
    [
      'a runbook URL that is not http(s)',
      { alarms: { runbookUrl: 'file:///runbook.md' } },
      'alarms.runbookUrl must be an http(s) URL',
    ],
    ['a misspelt threshold', { alarms: { oldestMessageMinute: 5 } }, 'alarms has unknown key(s) "oldestMessageMinute"'],
    ['an email address without a domain', { alarmEmail: 'ops' }, 'alarmEmail must be an email address (got "ops")'],
  ])('rejects %s, naming the key and the allowed values', (_case, raw, expected) => {
    // Act
    const message = problemsOf(raw);

    // Assess
    expect(message).toContain(expected);
  });
});
