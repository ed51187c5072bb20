/**
 * How often the supervisor's EventBridge schedule fires, without the CDK: the construct schedules it, and
 * `sluice status` works out from it when a look is due.
 */

/**
 * Minutes between two scheduled invocations of the supervisor: EventBridge schedules fire every whole minute at
 * most, so an interval under a minute is kept by ticking within each invocation.
 * @example
 * supervisorScheduleMinutes(30); // 1
 * supervisorScheduleMinutes(300); // 5
 */
export function supervisorScheduleMinutes(intervalSeconds: number): number {
  return Math.max(1, Math.ceil(intervalSeconds / 60));
}
