import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, type IMetric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { GraphSegmentMonitoring } from '../monitoring-segments.ts';
import { type MetricWithDimensions, sluiceMetric } from '../sluice-metrics.ts';
import { callsOf, type DashboardRow } from './dashboard-row.ts';

/** A per-widget range long enough for daily sums to read as a trend, whatever range the dashboard shows. */
const DAILY_RANGE = '-P14D';

/**
 * The token economics row: tokens and dollars per day by stage and model, and the day's budget with its alarms.
 * @example addTokenEconomicsRow(row);
 */
export function addTokenEconomicsRow({ monitoring, pipeline, described }: DashboardRow): void {
  const { thresholds } = pipeline;
  const calls = callsOf(pipeline);
  const daily = (metric: MetricWithDimensions<'call'>): IMetric[] =>
    calls.map(({ stage, model }) =>
      sluiceMetric(
        metric,
        { stage, model },
        { statistic: 'Sum', period: Duration.days(1), label: `${stage} · ${model}` },
      ),
    );
  const budgetUsed = sluiceMetric('BudgetUsedPercent', {}, { statistic: 'Maximum', label: 'Budget used' });
  const budgetAlarm = (threshold: number, description: string) => ({
    metric: budgetUsed,
    name: 'Used',
    threshold,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    // The share is reported after each call, and a spent budget stops the calls: keep the last state until the
    // next call reports (the next day's first call brings it back down).
    treatMissingDataOverride: TreatMissingData.IGNORE,
    ...described('budget', 'pipeline', description),
  });

  monitoring.addLargeHeader('Token economics');
  monitoring.addSegment(
    new GraphSegmentMonitoring(monitoring, {
      title: "Tokens and US dollars per day by stage and model (last 14 days); the day's budget",
      alarmFriendlyName: 'Budget',
      graphs: [
        { title: 'Prompt tokens per day', width: 6, left: daily('PromptTokens'), start: DAILY_RANGE },
        { title: 'Completion tokens per day', width: 6, left: daily('CompletionTokens'), start: DAILY_RANGE },
        {
          title: 'LLM cost per day (USD)',
          width: 6,
          left: daily('LlmCostUsd'),
          start: DAILY_RANGE,
          leftYAxis: { min: 0, label: 'USD', showUnits: false },
        },
        {
          title: 'Daily budget used (%)',
          width: 6,
          left: [budgetUsed],
          leftYAxis: { min: 0, max: 110, label: '%', showUnits: false },
          alarms: {
            Warning: budgetAlarm(
              thresholds.budgetWarningPercent,
              `LLM calls have committed ${thresholds.budgetWarningPercent}% of today's budget (dailyBudgetUsd): at 100% calls wait for the next UTC day.`,
            ),
            Critical: budgetAlarm(
              100,
              "LLM calls have committed all of today's budget (dailyBudgetUsd): items wait for the next UTC day and nothing is published until then.",
            ),
          },
        },
      ],
    }),
  );
}
