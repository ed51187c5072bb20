import { Duration } from 'aws-cdk-lib';
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import {
  DIMENSION_SETS,
  type DimensionSet,
  METRIC_CATALOGUE,
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
} from '#shared/metric-catalogue.ts';

/**
 * CloudWatch `Metric`s of sluice's own metrics, built from the metric catalogue the functions emit by, so the
 * dashboard and the alarms name exactly what the functions write: namespace, name and dimension set.
 */

/** The dimensions a caller gives for a metric: its catalogue dimension set without `service`, which is fixed. */
export type DimensionsOf<Name extends MetricName> = {
  readonly [Key in Exclude<
    (typeof DIMENSION_SETS)[(typeof METRIC_CATALOGUE)[Name]['dimensions']][number],
    'service'
  >]: string;
};

/** The catalogue metrics whose dimension set is `Set`. */
export type MetricWithDimensions<Set extends DimensionSet> = {
  [Name in MetricName]: (typeof METRIC_CATALOGUE)[Name]['dimensions'] extends Set ? Name : never;
}[MetricName];

/** Statistics the dashboard and alarms use. */
export type SluiceStatistic = 'Sum' | 'Minimum' | 'Maximum' | 'Average' | 'p50' | 'p90' | 'p99';

/** How to aggregate a metric. */
export interface SluiceMetricOptions {
  readonly statistic: SluiceStatistic;
  /**
   * Aggregation period.
   * @default 5 minutes
   */
  readonly period?: Duration;
  /**
   * Legend label.
   * @default the metric name
   */
  readonly label?: string;
}

/** A dimension set does not match the catalogue: the metric would read a series the functions never write. */
class MetricDimensionsError extends Error {
  constructor(name: MetricName, given: readonly string[], expected: readonly string[]) {
    super(`metric ${name} takes dimensions ${expected.join(', ')} (got ${given.join(', ')})`);
    this.name = 'MetricDimensionsError';
  }
}

/**
 * One of sluice's own metrics, with `service=sluice` added as Powertools adds it to every metric.
 * @throws {MetricDimensionsError} when the dimensions are not exactly the metric's catalogue dimension set.
 * @example
 * const cost = sluiceMetric('LlmCostUsd', { stage: 'draft', model: 'gpt-4.1-mini' }, { statistic: 'Sum' });
 */
export function sluiceMetric<Name extends MetricName>(
  name: Name,
  dimensions: DimensionsOf<Name>,
  options: SluiceMetricOptions,
): Metric {
  const dimensionsMap: Record<string, string> = { ...dimensions, service: SERVICE_NAME };
  const expected = DIMENSION_SETS[METRIC_CATALOGUE[name].dimensions];
  const given = Object.keys(dimensionsMap);
  // The type admits extra keys from a wider object, and CloudWatch would then match no series at all.
  if (given.length !== expected.length || !expected.every((key) => given.includes(key))) {
    throw new MetricDimensionsError(name, given, expected);
  }
  return new Metric({
    namespace: METRICS_NAMESPACE,
    metricName: name,
    dimensionsMap,
    statistic: options.statistic,
    period: options.period ?? Duration.minutes(5),
    ...(options.label === undefined ? {} : { label: options.label }),
  });
}
