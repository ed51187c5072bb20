import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, type IMetric, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { sluiceMetric } from '../sluice-metrics.ts';
import { COUNT_AXIS, callsOf, type DashboardRow } from './dashboard-row.ts';

/**
 * The degraded and re-billed row: items published degraded and LLM calls paid twice, with their alarms.
 * @example addDegradedRow(row);
 */
export function addDegradedRow({ monitoring, pipeline, described }: DashboardRow): void {
  const { stages, thresholds } = pipeline;
  const window = Duration.minutes(thresholds.degradedWindowMinutes);
  // The one walk over the stages: each adds its published and degraded counts.
  const byStage = stages.map(({ stage }) => ({
    published: sluiceMetric('ItemsPublished', { stage }, { statistic: 'Sum' }),
    degraded: sluiceMetric('ItemsDegraded', { stage }, { statistic: 'Sum' }),
    degradedGraph: sluiceMetric('ItemsDegraded', { stage }, { statistic: 'Sum', label: stage }),
  }));
  const degradedRatio = new MathExpression({
    // Below the minimum the ratio is 0, so one degraded item of two cannot fire the alarm.
    expression: `IF(published >= ${thresholds.degradedMinPublished}, FILL(degraded, 0) / published, 0)`,
    usingMetrics: {
      published: sumOf(
        byStage.map(({ published }) => published),
        'published',
        'Published',
        window,
      ),
      degraded: sumOf(
        byStage.map(({ degraded }) => degraded),
        'degraded',
        'Degraded',
        window,
      ),
    },
    label: 'Degraded / published',
    period: window,
  });
  const calls = callsOf(pipeline);
  const rebilled = sumOf(
    calls.map(({ stage, model }) => sluiceMetric('RebilledCalls', { stage, model }, { statistic: 'Sum' })),
    'rebilled',
    'All re-billed calls',
    Duration.minutes(5),
  );

  monitoring.addLargeHeader('Degraded and re-billed');
  monitoring.monitorCustom({
    alarmFriendlyName: 'Quality',
    humanReadableName: 'Items published degraded; LLM calls paid twice',
    metricGroups: [
      {
        title: 'Degraded items',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: byStage.map(({ degradedGraph }) => degradedGraph),
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

/** The sum of the metrics as one expression, its inputs named `<id>0`, `<id>1`, ... */
function sumOf(metrics: readonly IMetric[], id: string, label: string, period: Duration): MathExpression {
  return new MathExpression({
    expression: `SUM([${metrics.map((_, index) => `${id}${index}`).join(', ')}])`,
    usingMetrics: Object.fromEntries(metrics.map((metric, index) => [`${id}${index}`, metric])),
    label,
    period,
  });
}
