import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { type MetricWithDimensions, sluiceMetric } from '../sluice-metrics.ts';
import { COUNT_AXIS, callsOf, type DashboardRow } from './dashboard-row.ts';

/**
 * The degraded and re-billed row: items published degraded and LLM calls paid twice, with their alarms.
 * @example addDegradedRow(row);
 */
export function addDegradedRow({ monitoring, pipeline, described }: DashboardRow): void {
  const { stages, thresholds } = pipeline;
  const window = Duration.minutes(thresholds.degradedWindowMinutes);
  const summed = (metric: MetricWithDimensions<'stage'>, id: string, label: string) =>
    new MathExpression({
      expression: `SUM([${stages.map((_, index) => `${id}${index}`).join(', ')}])`,
      usingMetrics: Object.fromEntries(
        stages.map(({ stage }, index) => [`${id}${index}`, sluiceMetric(metric, { stage }, { statistic: 'Sum' })]),
      ),
      label,
      period: window,
    });
  const degradedRatio = new MathExpression({
    // Below the minimum the ratio is 0, so one degraded item of two cannot fire the alarm.
    expression: `IF(published >= ${thresholds.degradedMinPublished}, FILL(degraded, 0) / published, 0)`,
    usingMetrics: {
      published: summed('ItemsPublished', 'published', 'Published'),
      degraded: summed('ItemsDegraded', 'degraded', 'Degraded'),
    },
    label: 'Degraded / published',
    period: window,
  });
  const calls = callsOf(pipeline);
  const rebilled = new MathExpression({
    expression: `SUM([${calls.map((_, index) => `rebilled${index}`).join(', ')}])`,
    usingMetrics: Object.fromEntries(
      calls.map(({ stage, model }, index) => [
        `rebilled${index}`,
        sluiceMetric('RebilledCalls', { stage, model }, { statistic: 'Sum' }),
      ]),
    ),
    label: 'All re-billed calls',
    period: Duration.minutes(5),
  });

  monitoring.addLargeHeader('Degraded and re-billed');
  monitoring.monitorCustom({
    alarmFriendlyName: 'Quality',
    humanReadableName: 'Items published degraded; LLM calls paid twice',
    metricGroups: [
      {
        title: 'Degraded items',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: stages.map(({ stage }) =>
          sluiceMetric('ItemsDegraded', { stage }, { statistic: 'Sum', label: stage }),
        ),
      },
      {
        title: `Degraded / published (per ${thresholds.degradedWindowMinutes} minutes)`,
        graphWidgetWidth: 8,
        graphWidgetAxis: { min: 0, max: 1, showUnits: false },
        metrics: [
          {
            metric: degradedRatio,
            alarmFriendlyName: 'DegradedRatio',
            addAlarm: {
              Warning: {
                threshold: thresholds.degradedRatio,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluationPeriods: 1,
                // No data means nothing was published in the window: nothing was degraded either.
                treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                ...described(
                  'degradedRatio',
                  'pipeline',
                  `More than ${thresholds.degradedRatio * 100}% of the items published in the last ${thresholds.degradedWindowMinutes} minutes were degraded (NO_HISTORY, UNAPPROVED or REVISIONS_CUT), counted once at least ${thresholds.degradedMinPublished} were published.`,
                ),
              },
            },
          },
        ],
      },
      {
        title: 'Re-billed calls (repeated after a crash)',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: [
          ...calls.map(({ stage, model }) =>
            sluiceMetric('RebilledCalls', { stage, model }, { statistic: 'Sum', label: `${stage} · ${model}` }),
          ),
          {
            metric: rebilled,
            alarmFriendlyName: 'RebilledCalls',
            addAlarm: {
              Warning: {
                threshold: 0,
                comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluationPeriods: 1,
                // Re-billed calls are counted only when they happen: no data means none.
                treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                ...described(
                  'rebilledCalls',
                  'pipeline',
                  'An LLM call was paid for twice: a crash came between its response and the ledger write, so the retry repeated it. Counted, never hidden; repeated ones point at crashes or timeouts.',
                ),
              },
            },
          },
        ],
      },
    ],
  });
}
