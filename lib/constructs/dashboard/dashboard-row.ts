import type { YAxisProps } from 'aws-cdk-lib/aws-cloudwatch';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { MonitoringFacade } from 'cdk-monitoring-constructs';
import type { SluiceConfig } from '#lib/config.ts';
import type { Stage } from '#shared/runtime-config.ts';
import type { DescribeAlarm } from '../alarms.ts';

/** What every row of the dashboard is given, and the helpers the rows share. */

/** The alarm thresholds of the config. */
export type AlarmThresholds = SluiceConfig['alarms'];

/** A pipeline stage as the dashboard and alarms see it. */
export interface ObservedStage {
  /** The `stage` dimension of the stage's metrics. */
  readonly stage: Stage;
  /** The stage's input queue as named on the dashboard and in alarm names, e.g. `Intake`. */
  readonly queueName: string;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The stage function; its timeout is drawn on the dashboard and bounds the duration alarm. */
  readonly function: LambdaFunction;
  /** Maximum concurrency of the function's event source (the semaphore). */
  readonly maxConcurrency: number;
  /** The models the stage's steps call. */
  readonly models: readonly string[];
}

/** The supervisor as the dashboard and alarms see it. */
export interface ObservedSupervisor {
  /** The supervisor function, whose failed invocations raise an alarm. */
  readonly function: LambdaFunction;
  /** Minutes between two scheduled invocations: the period of its alarms, which see one look per period. */
  readonly scheduleMinutes: number;
}

/** The pipeline as the dashboard and alarms see it. */
export interface ObservedPipeline {
  /** The stages in pipeline order. */
  readonly stages: readonly ObservedStage[];
  /** The queue the last stage publishes to, consumed outside sluice, with its DLQ. */
  readonly published: { readonly queue: IQueue; readonly deadLetterQueue: IQueue };
  /**
   * Model every stage falls back to while its own model's breaker is open.
   * @default none
   */
  readonly fallbackModel?: string;
  readonly thresholds: AlarmThresholds;
  /**
   * The supervisor, which gets the dashboard's self-healing row and its alarms.
   * @default none: no self-healing row, no supervisor alarms
   */
  readonly supervisor?: ObservedSupervisor;
}

/** What a row is given: the facade it adds its widgets and alarms to, the pipeline, and the alarm describer. */
export interface DashboardRow {
  readonly monitoring: MonitoringFacade;
  readonly pipeline: ObservedPipeline;
  readonly described: DescribeAlarm;
}

/** The axis of every count graph. */
export const COUNT_AXIS: YAxisProps = { min: 0, showUnits: false };

/** Alarm names allow more than construct ids and metric math ids do; model names may hold `/` or `:`. */
export function nameSafe(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '-');
}

/** `extract` → `Extract`. */
export function capitalized(value: string): string {
  return `${value.charAt(0).toUpperCase()}${value.slice(1)}`;
}

/** The defined values, each once, in their first order. */
function unique(values: readonly (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined))];
}

/** Models a stage may call: its own and the fallback. */
export function modelsOf(pipeline: ObservedPipeline, stage: ObservedStage): string[] {
  return unique([...stage.models, pipeline.fallbackModel]);
}

/** Every model any stage may call, each once. */
export function modelsOfPipeline(pipeline: ObservedPipeline): string[] {
  return unique(pipeline.stages.flatMap((stage) => modelsOf(pipeline, stage)));
}

/** Every stage × model pair whose calls have metrics. */
export function callsOf(pipeline: ObservedPipeline): { stage: Stage; model: string }[] {
  return pipeline.stages.flatMap((stage) => modelsOf(pipeline, stage).map((model) => ({ stage: stage.stage, model })));
}
