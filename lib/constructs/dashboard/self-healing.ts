import { Duration } from 'aws-cdk-lib';
import { Color, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { CustomMetric } from 'cdk-monitoring-constructs';
import { sluiceMetric } from '../sluice-metrics.ts';
import {
  COUNT_AXIS,
  capitalized,
  type DashboardRow,
  modelsOfPipeline,
  type ObservedStage,
  type ObservedSupervisor,
} from './dashboard-row.ts';

/** CloudWatch evaluates at most one day of periods. */
const MAX_EVALUATED_MINUTES = 24 * 60;
/** Adaptive concurrency never lowers an event source's maximum concurrency below this (SQS event sources' floor). */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;

/**
 * The self-healing row: the supervisor's pauses, probes, resumes, concurrency and re-enrichment, with its alarms.
 * @example if (pipeline.supervisor !== undefined) addSelfHealingRow(row, pipeline.supervisor);
 */
export function addSelfHealingRow(row: DashboardRow, supervisor: ObservedSupervisor): void {
  const { monitoring, pipeline, described } = row;
  const { stages, thresholds } = pipeline;
  const schedule = Duration.minutes(supervisor.scheduleMinutes);
  // The supervisor reports once per scheduled invocation: an alarm period shorter than the schedule would see
  // gaps between looks as missing data.
  const pausedPeriods = Math.min(
    Math.ceil(thresholds.stagePausedMinutes / supervisor.scheduleMinutes),
    Math.floor(MAX_EVALUATED_MINUTES / supervisor.scheduleMinutes),
  );
  const failedInvocations = Math.min(
    thresholds.supervisorFailedInvocations,
    Math.floor(MAX_EVALUATED_MINUTES / supervisor.scheduleMinutes),
  );
  const models = modelsOfPipeline(pipeline);

  // The one walk over the stages; the graphs below gather what each stage adds.
  const byStage = stages.map((stage) => stageGraphs(row, stage, { schedule, pausedPeriods }));
  const supervisorErrors: CustomMetric = {
    metric: supervisor.function.metricErrors({ statistic: 'Sum', label: 'Errors' }),
    alarmFriendlyName: 'SupervisorErrors',
    addAlarm: {
      Critical: {
        threshold: 0,
        comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
        period: schedule,
        evaluationPeriods: failedInvocations,
        datapointsToAlarm: failedInvocations,
        // Lambda reports Errors only for periods with invocations: no data means no failed invocation.
        treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
        ...described(
          'supervisorErrors',
          'supervisor',
          `The supervisor failed ${failedInvocations} scheduled invocation(s) in a row: nothing pauses, resumes, scales or re-enriches the stages, and a stage it paused stays paused (its stage-paused alarm then sees no data).`,
        ),
      },
    },
  };

  monitoring.addLargeHeader('Self-healing');
  monitoring.monitorCustom({
    alarmFriendlyName: 'SelfHealing',
    humanReadableName: "The supervisor's pauses, probes, resumes, concurrency and re-enrichment",
    metricGroups: [
      {
        title: 'Stages paused (1 = event source disabled)',
        graphWidgetWidth: 8,
        graphWidgetAxis: { min: 0, max: 1, showUnits: false },
        metrics: byStage.map(({ paused }) => paused),
      },
      ...byStage.map(({ concurrency }) => concurrency),
      {
        title: 'Automatic pauses and resumes',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: byStage.flatMap(({ automaticPausesAndResumes }) => automaticPausesAndResumes),
      },
      {
        title: 'Resumes verified and unverified',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: byStage.flatMap(({ resumes }) => resumes),
      },
      {
        title: 'Probe calls and failures by model',
        graphWidgetWidth: 8,
        graphWidgetAxis: COUNT_AXIS,
        metrics: models.flatMap((dependency) => [
          sluiceMetric('ProbeCalls', { dependency }, { statistic: 'Sum', label: `${dependency} probes` }),
          sluiceMetric('ProbeFailures', { dependency }, { statistic: 'Sum', label: `${dependency} failed` }),
        ]),
      },
      {
        title: 'Items re-enriched (re-queued for a redraft with history)',
        graphWidgetWidth: 12,
        graphWidgetAxis: COUNT_AXIS,
        metrics: [sluiceMetric('ItemsReenriched', {}, { statistic: 'Sum', label: 'Re-enriched' })],
      },
      {
        title: 'Supervisor invocations, errors and throttles',
        graphWidgetWidth: 12,
        graphWidgetAxis: COUNT_AXIS,
        metrics: [
          supervisor.function.metricInvocations({ statistic: 'Sum', label: 'Invocations' }),
          supervisorErrors,
          supervisor.function.metricThrottles({ statistic: 'Sum', label: 'Throttles' }),
        ],
      },
    ],
  });
}

/** What one stage adds to the row: its paused gauge and alarm, its concurrency graph, its pauses and resumes. */
function stageGraphs(
  { pipeline, described }: DashboardRow,
  observed: ObservedStage,
  alarmPeriods: { readonly schedule: Duration; readonly pausedPeriods: number },
) {
  const { thresholds } = pipeline;
  const { schedule, pausedPeriods } = alarmPeriods;
  const { stage } = observed;
  const paused: CustomMetric = {
    metric: sluiceMetric('StagePaused', { stage }, { statistic: 'Maximum', label: stage }),
    alarmFriendlyName: `StagePaused-${stage}`,
    addAlarm: {
      Warning: {
        threshold: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        period: schedule,
        evaluationPeriods: pausedPeriods,
        datapointsToAlarm: pausedPeriods,
        // The supervisor reports the gauge at every look; no data means no look, which its own alarm covers.
        treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
        ...described(
          'stagePaused',
          stage,
          `The ${stage} stage's event source has been disabled for ${thresholds.stagePausedMinutes} minutes or more, by the supervisor (its models unavailable, or the day's budget spent) or by an operator: its items wait in its queue, nothing is lost, nothing moves.`,
        ),
      },
    },
  };
  const resumes: CustomMetric[] = [
    sluiceMetric('ResumeVerified', { stage }, { statistic: 'Sum', label: `${stage} verified` }),
    {
      metric: sluiceMetric('ResumeUnverified', { stage }, { statistic: 'Sum', label: `${stage} unverified` }),
      alarmFriendlyName: `ResumeUnverified-${stage}`,
      addAlarm: {
        Critical: {
          threshold: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
          evaluationPeriods: 1,
          // Counted only when a verify window ends without progress: no data means no failed resume.
          treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
          ...described(
            'resumeUnverified',
            stage,
            `The supervisor resumed the ${stage} stage, but within its verify window (supervisor.verifySeconds) the stage processed nothing while its queue held messages: the event source is enabled and the stage still does not work.`,
          ),
        },
      },
    },
  ];
  return {
    paused,
    concurrency: {
      title: `${capitalized(stage)}: effective concurrency against the configured maximum`,
      graphWidgetWidth: 8,
      graphWidgetAxis: COUNT_AXIS,
      metrics: [
        sluiceMetric(
          'EffectiveConcurrency',
          { stage },
          { statistic: 'Minimum', label: 'Effective (lowest in the period)' },
        ),
      ],
      horizontalAnnotations: [
        { value: observed.maxConcurrency, label: `Configured maximum (${observed.maxConcurrency})`, color: Color.RED },
        { value: MIN_EVENT_SOURCE_CONCURRENCY, label: `Floor (${MIN_EVENT_SOURCE_CONCURRENCY})` },
      ],
    },
    automaticPausesAndResumes: [
      sluiceMetric('StageAutoPaused', { stage }, { statistic: 'Sum', label: `${stage} paused` }),
      sluiceMetric('StageAutoResumed', { stage }, { statistic: 'Sum', label: `${stage} resumed` }),
    ],
    resumes,
  };
}
