import { Duration, Stack } from 'aws-cdk-lib';
import type { Dashboard } from 'aws-cdk-lib/aws-cloudwatch';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import { DefaultDashboardFactory, MonitoringFacade, SnsAlarmActionStrategy } from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { AlarmTopic } from './alarm-topic.ts';
import { alarmDescriber, DEFAULT_RUNBOOK_URL, type ObservabilityAlarm, observedAlarm } from './alarms.ts';
import type { DashboardRow, ObservedPipeline } from './dashboard/dashboard-row.ts';
import { addDegradedRow } from './dashboard/degraded.ts';
import { addFlowRow } from './dashboard/flow.ts';
import { addFunctionRows } from './dashboard/functions.ts';
import { addIntroduction } from './dashboard/introduction.ts';
import { addLlmRow } from './dashboard/llm-calls.ts';
import { addQueueRows } from './dashboard/queues.ts';
import { addSelfHealingRow } from './dashboard/self-healing.ts';
import { addTokenEconomicsRow } from './dashboard/token-economics.ts';

/** Properties of {@link Observability}: the pipeline it watches and where its alarms go. */
export interface ObservabilityProps extends ObservedPipeline {
  /**
   * Email address subscribed to the alarm topic.
   * @default no subscription
   */
  readonly alarmEmail?: string;
}

/**
 * The stack's monitoring: one CloudWatch dashboard read top-down (pipeline flow, queues, functions, LLM calls,
 * token economics, degraded and re-billed items, and the supervisor's self-healing when there is one) and the alarms, every one notifying one encrypted SNS topic and
 * linking to its runbook section. Built on the cdk-monitoring-constructs facade: it owns the dashboard, names the
 * alarms after the stack, and sets their action once.
 * @example
 * const observability = new Observability(this, 'Observability', {
 *   stages: [{ stage: 'extract', queueName: 'Intake', queue, deadLetterQueue, function: fn, maxConcurrency: 5, models: [model] }],
 *   published: { queue: published.queue, deadLetterQueue: published.deadLetterQueue },
 *   thresholds: config.alarms,
 * });
 * observability.alarmTopic.topicArn;
 */
export class Observability extends Construct {
  /** Every alarm notifies this topic, on alarm and on recovery. */
  readonly alarmTopic: Topic;
  readonly monitoring: MonitoringFacade;
  readonly dashboard: Dashboard;
  readonly alarms: readonly ObservabilityAlarm[];

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    const runbookUrl = props.thresholds.runbookUrl ?? DEFAULT_RUNBOOK_URL;
    const stack = Stack.of(this);

    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      ...(props.alarmEmail === undefined ? {} : { email: props.alarmEmail }),
    }).topic;
    // The stack's only physical names, on purpose: an alarm's name is the subject of its notification and the
    // dashboard's is what an operator looks for in the console. Both derive from the stack name, unique in an account
    // and region (plus the region for the dashboard, whose names are account-wide), so they cannot collide, and
    // neither resource is ever replaced by an update.
    const dashboards = new DefaultDashboardFactory(this, 'Dashboards', {
      dashboardNamePrefix: `${stack.stackName}-${stack.region}`,
      createDashboard: true,
      createSummaryDashboard: false,
      createAlarmDashboard: false,
      detailDashboardRange: Duration.days(1),
    });
    this.monitoring = new MonitoringFacade(this, 'Monitoring', {
      alarmFactoryDefaults: {
        alarmNamePrefix: stack.stackName,
        actionsEnabled: true,
        // The one place alarm actions are set: every alarm notifies the topic when it fires and when it recovers.
        action: new SnsAlarmActionStrategy({ onAlarmTopic: this.alarmTopic, onOkTopic: this.alarmTopic }),
        datapointsToAlarm: 1,
      },
      dashboardFactory: dashboards,
    });

    // The rows, top-down, in the order the introduction names them.
    const row: DashboardRow = { monitoring: this.monitoring, pipeline: props, described: alarmDescriber(runbookUrl) };
    addIntroduction(row, runbookUrl);
    addFlowRow(row);
    addQueueRows(row);
    addFunctionRows(row);
    addLlmRow(row);
    addTokenEconomicsRow(row);
    addDegradedRow(row);
    if (props.supervisor !== undefined) addSelfHealingRow(row, props.supervisor);

    const dashboard = dashboards.createdDashboard();
    if (dashboard === undefined) throw new Error('the dashboard factory created no dashboard');
    this.dashboard = dashboard;
    this.alarms = this.monitoring.createdAlarms().map(observedAlarm);
  }
}
