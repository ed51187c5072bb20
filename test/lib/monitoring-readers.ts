import { expect } from 'vitest';
import * as z from 'zod';
import type { AlarmKind, AlarmSeverity } from '#lib/constructs/alarms.ts';
import type { MetricName } from '#shared/metric-catalogue.ts';
import type { Stage } from '#shared/runtime-config.ts';
import { resourcesOfType, type SynthesizedStack } from './stack-fixture.ts';

/**
 * Reads the alarms and the dashboard of a synthesized stack back from its template, in the terms an operator sees:
 * an alarm's metric, threshold, comparison, missing-data treatment and actions; the dashboard's rows, graphs,
 * plotted metrics and annotation lines.
 */

export interface WatchedMetric {
  namespace: string;
  name: string;
  dimensions: Record<string, unknown>;
  stat: string;
  period: number;
}

export interface AlarmReading {
  name: string;
  description: string;
  /** The metric of a single-metric alarm. */
  metric?: WatchedMetric;
  /** The expression whose result the alarm watches, with the metrics and expressions it uses by id. */
  expression?: string;
  metrics: Record<string, WatchedMetric>;
  expressions: Record<string, string>;
  threshold: number;
  comparison: string;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  treatMissingData: string;
  actionsEnabled: boolean;
  alarmActions: unknown[];
  okActions: unknown[];
  insufficientDataActions: unknown[];
}

const metricStatSchema = z.object({
  Metric: z.object({
    Namespace: z.string(),
    MetricName: z.string(),
    Dimensions: z.array(z.object({ Name: z.string(), Value: z.unknown() })).default([]),
  }),
  Period: z.number(),
  Stat: z.string(),
});

const alarmPropertiesSchema = z.object({
  AlarmName: z.string(),
  AlarmDescription: z.string(),
  ActionsEnabled: z.boolean(),
  AlarmActions: z.array(z.unknown()).default([]),
  OKActions: z.array(z.unknown()).default([]),
  InsufficientDataActions: z.array(z.unknown()).default([]),
  ComparisonOperator: z.string(),
  Threshold: z.number(),
  EvaluationPeriods: z.number(),
  DatapointsToAlarm: z.number(),
  TreatMissingData: z.string(),
  Metrics: z.array(
    z.object({
      Id: z.string(),
      Expression: z.string().optional(),
      MetricStat: metricStatSchema.optional(),
      ReturnData: z.boolean().optional(),
    }),
  ),
});

function watched(stat: z.infer<typeof metricStatSchema>): WatchedMetric {
  return {
    namespace: stat.Metric.Namespace,
    name: stat.Metric.MetricName,
    dimensions: Object.fromEntries(stat.Metric.Dimensions.map(({ Name, Value }) => [Name, Value])),
    stat: stat.Stat,
    period: stat.Period,
  };
}

export function readAlarm(synth: SynthesizedStack, logicalId: string): AlarmReading {
  const resource = resourcesOfType(synth.template, 'AWS::CloudWatch::Alarm')[logicalId];
  if (resource === undefined) throw new Error(`no alarm ${logicalId}`);
  const properties = alarmPropertiesSchema.parse(resource.Properties);
  const returned = properties.Metrics.filter((metric) => metric.ReturnData !== false);
  if (returned.length !== 1) throw new Error(`alarm ${logicalId} returns ${returned.length} series`);
  const [result] = returned;
  const metrics: Record<string, WatchedMetric> = {};
  const expressions: Record<string, string> = {};
  for (const entry of properties.Metrics) {
    if (entry.MetricStat !== undefined) metrics[entry.Id] = watched(entry.MetricStat);
    if (entry.Expression !== undefined && entry !== result) expressions[entry.Id] = entry.Expression;
  }
  return {
    name: properties.AlarmName,
    description: properties.AlarmDescription,
    ...(result?.MetricStat === undefined ? {} : { metric: watched(result.MetricStat) }),
    ...(result?.Expression === undefined ? {} : { expression: result.Expression }),
    metrics,
    expressions,
    threshold: properties.Threshold,
    comparison: properties.ComparisonOperator,
    evaluationPeriods: properties.EvaluationPeriods,
    datapointsToAlarm: properties.DatapointsToAlarm,
    treatMissingData: properties.TreatMissingData,
    actionsEnabled: properties.ActionsEnabled,
    alarmActions: properties.AlarmActions,
    okActions: properties.OKActions,
    insufficientDataActions: properties.InsufficientDataActions,
  };
}

/** The one alarm of a kind, subject and severity. */
export function alarmOf(
  synth: SynthesizedStack,
  kind: AlarmKind,
  subject: string,
  severity: AlarmSeverity,
): AlarmReading {
  const matches = synth.stack.observability.alarms.filter(
    (alarm) => alarm.kind === kind && alarm.subject === subject && alarm.severity === severity,
  );
  const [match] = matches;
  if (match === undefined || matches.length !== 1) {
    throw new Error(`expected one ${severity} ${kind} alarm on ${subject}, found ${matches.length}`);
  }
  return readAlarm(synth, synth.logicalId(match.alarm));
}

export function sluiceDimensions(dimensions: Record<string, string>): Record<string, string> {
  return { service: 'sluice', ...dimensions };
}

export function queueDimensions(synth: SynthesizedStack, queue: 'intake' | 'draft' | 'published', dlq: boolean) {
  const construct =
    queue === 'intake'
      ? synth.stack.stage('extract')
      : queue === 'draft'
        ? synth.stack.stage('draft')
        : synth.stack.published;
  const target = dlq ? construct.deadLetterQueue : construct.queue;
  return { QueueName: { 'Fn::GetAtt': [synth.logicalId(target), 'QueueName'] } };
}

export function functionDimensions(synth: SynthesizedStack, stage: Stage) {
  return { FunctionName: { Ref: synth.logicalId(synth.stack.stage(stage).function) } };
}

export function topicRef(synth: SynthesizedStack) {
  return { Ref: synth.logicalId(synth.stack.observability.alarmTopic) };
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the dashboard back from the template

const tokenSchema = z.union([
  z.object({ Ref: z.string() }).transform(({ Ref }) => `{{Ref:${Ref}}}`),
  z
    .object({ 'Fn::GetAtt': z.tuple([z.string(), z.string()]) })
    .transform(({ 'Fn::GetAtt': [id, attribute] }) => `{{GetAtt:${id}.${attribute}}}`),
]);
const dashboardBodySchema = z.object({
  'Fn::Join': z.tuple([z.literal(''), z.array(z.union([z.string(), tokenSchema]))]),
});
const renderingSchema = z.looseObject({
  stat: z.string().optional(),
  period: z.number().optional(),
  label: z.string().optional(),
  id: z.string().optional(),
  expression: z.string().optional(),
  visible: z.boolean().optional(),
});
const widgetSchema = z.object({
  type: z.enum(['text', 'metric']),
  x: z.number(),
  y: z.number(),
  width: z.number(),
  height: z.number(),
  properties: z.looseObject({
    markdown: z.string().optional(),
    title: z.string().optional(),
    start: z.string().optional(),
    metrics: z.array(z.array(z.unknown())).optional(),
    annotations: z
      .object({ horizontal: z.array(z.looseObject({ value: z.number(), label: z.string().optional() })) })
      .optional(),
  }),
});
const dashboardSchema = z.object({ start: z.string(), widgets: z.array(widgetSchema) });

export interface PlottedMetric {
  namespace?: string;
  name?: string;
  dimensions: Record<string, string>;
  stat?: string;
  period?: number;
  label?: string;
  expression?: string;
  visible?: boolean;
}

export interface Graph {
  title: string;
  start?: string;
  metrics: PlottedMetric[];
  annotations: { value: number; label?: string }[];
}

export interface DashboardRow {
  title: string;
  /** Markdown of the row's smaller headers, in order. */
  headers: string[];
  graphs: Graph[];
}

function plotted(entry: readonly unknown[]): PlottedMetric {
  const last = entry.at(-1);
  const hasRendering = typeof last === 'object' && last !== null;
  const rendering = renderingSchema.parse(hasRendering ? last : {});
  const [namespace, name, ...pairs] = z.array(z.string()).parse(hasRendering ? entry.slice(0, -1) : entry);
  const dimensions: Record<string, string> = {};
  for (let index = 0; index + 1 < pairs.length; index += 2) {
    dimensions[pairs[index] ?? ''] = pairs[index + 1] ?? '';
  }
  return {
    dimensions,
    ...(namespace === undefined ? {} : { namespace }),
    ...(name === undefined ? {} : { name }),
    ...(rendering.stat === undefined ? {} : { stat: rendering.stat }),
    ...(rendering.period === undefined ? {} : { period: rendering.period }),
    ...(rendering.label === undefined ? {} : { label: rendering.label }),
    ...(rendering.expression === undefined ? {} : { expression: rendering.expression }),
    ...(rendering.visible === undefined ? {} : { visible: rendering.visible }),
  };
}

export function dashboardOf(synth: SynthesizedStack) {
  const dashboards = resourcesOfType(synth.template, 'AWS::CloudWatch::Dashboard');
  expect(Object.keys(dashboards)).toHaveLength(1);
  const [dashboard] = Object.values(dashboards);
  const body = dashboardBodySchema.parse(dashboard?.Properties?.DashboardBody)['Fn::Join'][1].join('');
  return { properties: dashboard?.Properties ?? {}, body: dashboardSchema.parse(JSON.parse(body)) };
}

/** The dashboard split into rows at its large (`# `) headers, widgets in reading order. */
export function dashboardRows(synth: SynthesizedStack): DashboardRow[] {
  const widgets = [...dashboardOf(synth).body.widgets].sort((a, b) => a.y - b.y || a.x - b.x);
  const rows: DashboardRow[] = [];
  for (const widget of widgets) {
    const markdown = widget.properties.markdown;
    if (widget.type === 'text' && markdown?.startsWith('# ')) {
      rows.push({ title: (markdown.split('\n')[0] ?? '').slice(2), headers: [], graphs: [] });
      continue;
    }
    const row = rows.at(-1);
    if (row === undefined) throw new Error('a widget comes before the first row header');
    if (widget.type === 'text') {
      row.headers.push(markdown ?? '');
    } else {
      row.graphs.push({
        title: widget.properties.title ?? '',
        ...(widget.properties.start === undefined ? {} : { start: widget.properties.start }),
        metrics: (widget.properties.metrics ?? []).map(plotted),
        annotations: widget.properties.annotations?.horizontal ?? [],
      });
    }
  }
  return rows;
}

export function row(synth: SynthesizedStack, title: string): DashboardRow {
  const found = dashboardRows(synth).find((candidate) => candidate.title === title);
  if (found === undefined) throw new Error(`no dashboard row ${title}`);
  return found;
}

export function graph(of: DashboardRow, title: string, index = 0): Graph {
  const found = of.graphs.filter((candidate) => candidate.title === title)[index];
  if (found === undefined) throw new Error(`no graph ${title} in row ${of.title}`);
  return found;
}

export function sluiceMetric(name: MetricName, dimensions: Record<string, string>, stat: string) {
  return { namespace: 'Sluice', name, dimensions: sluiceDimensions(dimensions), stat };
}

/** Dashboard metrics carry tokens as `{{Ref:Id}}` / `{{GetAtt:Id.Attribute}}` strings. */
export function flat(dimensions: Record<string, { Ref: string } | { 'Fn::GetAtt': string[] }>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(dimensions).map(([name, value]) => [
      name,
      'Ref' in value ? `{{Ref:${value.Ref}}}` : `{{GetAtt:${value['Fn::GetAtt'].join('.')}}}`,
    ]),
  );
}
