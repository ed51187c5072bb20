import { Duration } from 'aws-cdk-lib';
import { ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { CustomMetric } from 'cdk-monitoring-constructs';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import type { AlarmSeverity } from '../alarms.ts';
import { type MetricWithDimensions, sluiceMetric } from '../sluice-metrics.ts';
import {
  COUNT_AXIS,
  callsOf,
  capitalized,
  type DashboardRow,
  modelsOf,
  modelsOfPipeline,
  nameSafe,
  type ObservedStage,
} from './dashboard-row.ts';

/**
 * The LLM calls row: latency, provider answers, breakers, limiter waits, unreadable secrets, retries and deferrals.
 * @example addLlmRow(row);
 */
export function addLlmRow(row: DashboardRow): void {
  const { monitoring, pipeline, described } = row;
  const { stages, thresholds } = pipeline;
  // The one walk over the stages; the graphs below gather what each stage adds.
  const byStage = stages.map((stage) => stageGraphs(row, stage));
  const calls = callsOf(pipeline);
  const perCall = (metric: MetricWithDimensions<'call'>) =>
    calls.map(({ stage, model }) =>
      sluiceMetric(metric, { stage, model }, { statistic: 'Sum', label: `${stage} · ${model}` }),
    );
  const models = modelsOfPipeline(pipeline);
  const breakerMetrics: CustomMetric[] = [...models, MEMORY_DEPENDENCY].flatMap((dependency): CustomMetric[] => {
    const severity: AlarmSeverity = dependency === MEMORY_DEPENDENCY ? 'Warning' : 'Critical';
    const consequence =
      dependency === MEMORY_DEPENDENCY
        ? 'drafts go ahead without related items and are published degraded (NO_HISTORY)'
        : 'calls wait (or use the fallback model, if set)';
    return [
      sluiceMetric('BreakerOpened', { dependency }, { statistic: 'Sum', label: `${dependency} opened` }),
      {
        metric: sluiceMetric(
          'BreakerOpenWaits',
          { dependency },
          { statistic: 'Sum', label: `${dependency} open-waits` },
        ),
        alarmFriendlyName: `BreakerOpen-${nameSafe(dependency)}`,
        addAlarm: {
          [severity]: {
            threshold: 0,
            comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
            period: Duration.minutes(1),
            evaluationPeriods: thresholds.breakerOpenMinutes,
            datapointsToAlarm: thresholds.breakerOpenMinutes,
            // Waits are counted only when a caller finds the breaker open; a minute without one breaks the run.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            ...described(
              'breakerOpen',
              dependency,
              `Callers have found the ${dependency} circuit breaker open for ${thresholds.breakerOpenMinutes} consecutive minutes: ${consequence}.`,
            ),
          },
        },
      },
    ];
  });

  monitoring.addLargeHeader('LLM calls');
  monitoring.monitorCustom({
    alarmFriendlyName: 'Llm',
    humanReadableName: 'Latency, provider answers, breakers and waits by stage and model',
    metricGroups: [
      ...byStage.map(({ latency }) => latency),
      {
        title: '429s from the provider',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: perCall('LlmRateLimited'),
      },
      { title: 'Failed LLM calls', graphWidgetWidth: 8, graphWidgetAxis: COUNT_AXIS, metrics: perCall('LlmErrors') },
      {
        title: 'Rate limiter waits',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: perCall('LimiterWaits'),
      },
      {
        title: 'Breakers: opened and open-waits',
        graphWidgetWidth: 12,
        graphWidgetAxis: COUNT_AXIS,
        metrics: breakerMetrics,
      },
      {
        title: 'Calls not made: API key secret unreadable',
        graphWidgetWidth: 12,
        graphWidgetAxis: COUNT_AXIS,
        metrics: byStage.map(({ secretUnavailable }) => secretUnavailable),
      },
      {
        title: 'Retries (failed attempts) and deferrals (waits)',
        graphWidgetWidth: 12,
        graphWidgetAxis: COUNT_AXIS,
        metrics: byStage.flatMap(({ retriesAndDeferrals }) => retriesAndDeferrals),
      },
    ],
  });
}

/** What one stage adds to the row: its latency graph, its unreadable-secret metric and alarm, its retries and deferrals. */
function stageGraphs({ pipeline, described }: DashboardRow, observed: ObservedStage) {
  const { thresholds } = pipeline;
  const { stage } = observed;
  const secretUnavailable: CustomMetric = {
    metric: sluiceMetric('SecretUnavailable', { stage }, { statistic: 'Sum', label: stage }),
    alarmFriendlyName: `SecretUnavailable-${capitalized(stage)}`,
    addAlarm: {
      Critical: {
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        period: Duration.minutes(thresholds.functionErrorMinutes),
        evaluationPeriods: 1,
        // Counted only when a read fails: no data is a readable secret.
        treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
        ...described(
          'secretUnavailable',
          stage,
          `The ${stage} stage could not read the LLM API key secret (deleted, access denied, no key in it) in the last ${thresholds.functionErrorMinutes} minutes: its items wait, none is dead-lettered for it, until the secret is readable or they pass retry.maxDeferralHours.`,
        ),
      },
    },
  };
  return {
    latency: {
      title: `${capitalized(stage)}: LLM latency p50 / p90 / p99 (ms)`,
      graphWidgetWidth: 12,
      graphWidgetAxis: COUNT_AXIS,
      metrics: modelsOf(pipeline, observed).flatMap((model) =>
        (['p50', 'p90', 'p99'] as const).map((statistic) =>
          sluiceMetric('LlmLatency', { stage, model }, { statistic, label: `${model} ${statistic}` }),
        ),
      ),
    },
    secretUnavailable,
    retriesAndDeferrals: [
      sluiceMetric('Retries', { stage }, { statistic: 'Sum', label: `${stage} retries` }),
      sluiceMetric('Deferrals', { stage }, { statistic: 'Sum', label: `${stage} deferrals` }),
    ],
  };
}
