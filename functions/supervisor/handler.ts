import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { describeAction } from './actions.ts';
import type { SupervisorRuntimeConfig } from './runtime-config.ts';
import type { LookReport, Supervisor } from './supervisor.ts';

/** The schedule fires once a minute at most. */
const SCHEDULE_MS = 60_000;
/** Time kept back at the end of an invocation for a look to finish. */
const LOOK_MARGIN_MS = 15_000;

/**
 * Looks this invocation takes: one per schedule, or several spaced `intervalMs` apart when the interval is shorter
 * than the schedule's minute.
 * @example looksPerInvocation(15_000) // 4
 */
export function looksPerInvocation(intervalMs: number): number {
  return intervalMs >= SCHEDULE_MS ? 1 : Math.max(1, Math.floor(SCHEDULE_MS / intervalMs));
}

/**
 * The supervisor's Lambda handler, invoked by its EventBridge schedule: a look (or, for intervals under a minute,
 * several), each logged with what it did. A look's failure to reach one stage is logged and the rest goes on; the
 * invocation then fails, once its looks are done, so the function's errors (and their alarm) count it.
 * @example export const handler = createSupervisorHandler({ supervisor, config, logger, tracer });
 */
export function createSupervisorHandler(parts: {
  supervisor: Supervisor;
  config: SupervisorRuntimeConfig;
  logger: Logger;
  tracer?: Tracer | undefined;
  sleep?: (ms: number) => Promise<void>;
}) {
  const { supervisor, config, logger } = parts;
  const sleep = parts.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const handler = middy<ScheduledEvent, LookReport[]>().use(injectLambdaContext(logger, { resetKeys: true }));
  if (parts.tracer) handler.use(captureLambdaHandler(parts.tracer, { captureResponse: false }));
  return handler.handler(async (_event: ScheduledEvent, context: Context) => {
    const reports: LookReport[] = [];
    const looks = looksPerInvocation(config.intervalMs);
    for (let index = 0; index < looks; index += 1) {
      if (index > 0) {
        if (context.getRemainingTimeInMillis() < config.intervalMs + LOOK_MARGIN_MS) break;
        await sleep(config.intervalMs);
      }
      const report = await supervisor.look();
      reports.push(report);
      if (report.errors.length > 0) logger.warn('supervisor look met problems', { errors: report.errors });
      const acted = report.stages.filter((stage) => stage.actions.length > 0);
      if (acted.length > 0 || report.reenriched > 0) {
        const actions = acted.map((stage) => ({ stage: stage.stage, actions: stage.actions.map(describeAction) }));
        logger.info('supervisor acted', { stages: actions, reenriched: report.reenriched });
      }
    }
    const problems = reports.flatMap((report) => report.errors);
    if (problems.length > 0) {
      throw new Error(`${problems.length} problem(s) in ${reports.length} look(s): ${problems.join('; ')}`);
    }
    return reports;
  });
}
