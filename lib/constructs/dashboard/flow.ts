import { type MetricWithDimensions, sluiceMetric } from '../sluice-metrics.ts';
import { COUNT_AXIS, type DashboardRow } from './dashboard-row.ts';

const FLOW_METRICS = [
  { metric: 'ItemsReceived', title: 'Received', width: 8 },
  { metric: 'ItemsExtracted', title: 'Extracted', width: 8 },
  { metric: 'ItemsPublished', title: 'Published', width: 8 },
  { metric: 'ItemsDeadLettered', title: 'Dead-lettered', width: 8 },
  { metric: 'ItemsDegraded', title: 'Published degraded', width: 8 },
  { metric: 'StaleDeliveries', title: 'Stale deliveries (acknowledged)', width: 8 },
] as const satisfies readonly { metric: MetricWithDimensions<'stage'>; title: string; width: number }[];

/**
 * The pipeline flow row: items received, extracted, published, dead-lettered, degraded and stale, per stage.
 * @example addFlowRow(row);
 */
export function addFlowRow({ monitoring, pipeline }: DashboardRow): void {
  const { stages } = pipeline;
  monitoring.addLargeHeader('Pipeline flow');
  monitoring.monitorCustom({
    alarmFriendlyName: 'Flow',
    humanReadableName: 'Items per stage (sum per 5 minutes)',
    metricGroups: FLOW_METRICS.map(({ metric, title, width }) => ({
      title,
      graphWidgetWidth: width,
      graphWidgetAxis: COUNT_AXIS,
      metrics: stages.map(({ stage }) => sluiceMetric(metric, { stage }, { statistic: 'Sum', label: stage })),
    })),
  });
}
