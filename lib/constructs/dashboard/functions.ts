import { Duration } from 'aws-cdk-lib';
import { TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { StageFunctionMonitoring } from '../monitoring-segments.ts';
import { capitalized, type DashboardRow } from './dashboard-row.ts';

/**
 * The functions row: each stage function's invocations, errors, throttles and duration, with their alarms.
 * @example addFunctionRows(row);
 */
export function addFunctionRows({ monitoring, pipeline, described }: DashboardRow): void {
  const { stages, thresholds } = pipeline;
  const window = Duration.minutes(thresholds.functionErrorMinutes);
  monitoring.addLargeHeader('Functions');
  for (const stage of stages) {
    const timeout = stage.function.timeout ?? Duration.seconds(3);
    monitoring.addSegment(
      new StageFunctionMonitoring(monitoring, {
        lambdaFunction: stage.function,
        timeout,
        maxConcurrency: stage.maxConcurrency,
        isIterator: false,
        humanReadableName: `${capitalized(stage.stage)} function`,
        alarmFriendlyName: `${capitalized(stage.stage)}Function`,
        addFaultCountAlarm: {
          Critical: {
            maxErrorCount: 0,
            period: window,
            evaluationPeriods: 1,
            // Lambda reports Errors only for periods with invocations: no data means no failed invocation.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            ...described(
              'functionErrors',
              stage.stage,
              `The ${stage.stage} function failed whole invocations in the last ${thresholds.functionErrorMinutes} minutes (a crash, a timeout, an init failure): record failures are reported per item, so this is never an item's own error.`,
            ),
          },
        },
        addThrottlesCountAlarm: {
          Warning: {
            maxErrorCount: 0,
            period: window,
            evaluationPeriods: 1,
            // Throttles are reported only when they happen: no data means none.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            ...described(
              'functionThrottles',
              stage.stage,
              `Lambda throttled the ${stage.stage} function in the last ${thresholds.functionErrorMinutes} minutes, which its event source maximum concurrency (${stage.maxConcurrency}) should prevent: the account's concurrency is short or the reservation is below the cap.`,
            ),
          },
        },
        addLatencyP99Alarm: {
          Warning: {
            maxLatencyPercentageOfTimeout: thresholds.durationPercentOfTimeout,
            period: Duration.minutes(5),
            datapointsToAlarm: 2,
            evaluationPeriods: 3,
            // Duration exists only for periods with invocations: an idle function is not a slow one.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            ...described(
              'functionDuration',
              stage.stage,
              `The ${stage.stage} function's p99 duration exceeded ${thresholds.durationPercentOfTimeout}% of its ${timeout.toSeconds()} s timeout in 2 of the last 3 five-minute periods: invocations are about to time out (slow provider, hanging calls, too large batches).`,
            ),
          },
        },
      }),
    );
  }
}
