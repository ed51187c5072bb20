import type { Duration } from 'aws-cdk-lib';
import {
  Color,
  GraphWidget,
  type HorizontalAnnotation,
  type IMetric,
  type IWidget,
  Row,
  type YAxisProps,
} from 'aws-cdk-lib/aws-cloudwatch';
import {
  type AlarmWithAnnotation,
  CustomAlarmFactory,
  type CustomThreshold,
  DefaultGraphWidgetHeight,
  LambdaFunctionMonitoring,
  type LambdaFunctionMonitoringProps,
  type MetricWithAlarmSupport,
  Monitoring,
  MonitoringHeaderWidget,
  type MonitoringScope,
  SqsQueueMonitoringWithDlq,
  type SqsQueueMonitoringWithDlqProps,
} from 'cdk-monitoring-constructs';

/**
 * Dashboard segments the library's own layouts do not draw well enough for sluice. Each keeps the library's
 * metrics, alarms and alarm annotations and replaces only the widgets: the SQS layout has no in-flight graph and
 * spreads one queue and its DLQ over nine widgets; the Lambda layout draws neither the timeout nor the
 * concurrency cap; and a graph of daily sums needs its own time range, which custom metric groups cannot set.
 */

const GRAPH_HEIGHT = DefaultGraphWidgetHeight;
const COUNT_AXIS: YAxisProps = { min: 0, showUnits: false };
const SECONDS_AXIS: YAxisProps = { min: 0, label: 'seconds', showUnits: false };
const MILLISECONDS_AXIS: YAxisProps = { min: 0, label: 'ms', showUnits: false };

/**
 * A queue with its DLQ, drawn as one row: depth, age of the oldest message, messages in flight; the queue on the
 * left axis, the DLQ on the right, so a single dead letter is visible next to a deep queue.
 * @example
 * facade.addSegment(new QueueWithDlqMonitoring(facade, { queue, deadLetterQueue, humanReadableName: 'Intake queue' }));
 */
export class QueueWithDlqMonitoring extends SqsQueueMonitoringWithDlq {
  readonly inFlightMetric: MetricWithAlarmSupport;
  readonly deadLetterInFlightMetric: MetricWithAlarmSupport;

  constructor(scope: MonitoringScope, props: SqsQueueMonitoringWithDlqProps) {
    super(scope, props);
    const metricFactory = scope.createMetricFactory();
    this.inFlightMetric = metricFactory.adaptMetric(props.queue.metricApproximateNumberOfMessagesNotVisible());
    this.deadLetterInFlightMetric = metricFactory.adaptMetric(
      props.deadLetterQueue.metricApproximateNumberOfMessagesNotVisible(),
    );
  }

  override summaryWidgets(): IWidget[] {
    return [];
  }

  override widgets(): IWidget[] {
    return [
      this.createTitleWidget(),
      new Row(
        new GraphWidget({
          title: 'Depth (messages visible)',
          width: 8,
          height: GRAPH_HEIGHT,
          left: [this.visibleMessagesMetric.with({ label: 'Queue' })],
          right: [this.deadLetterQueueVisibleMessagesMetric.with({ label: 'DLQ' })],
          leftAnnotations: this.countAnnotations,
          rightAnnotations: this.deadLetterCountAnnotations,
          leftYAxis: COUNT_AXIS,
          rightYAxis: COUNT_AXIS,
        }),
        new GraphWidget({
          title: 'Age of the oldest message',
          width: 8,
          height: GRAPH_HEIGHT,
          left: [this.oldestMessageAgeMetric.with({ label: 'Queue' })],
          right: [this.deadLetterQueueOldestMessageAgeMetric.with({ label: 'DLQ' })],
          leftAnnotations: this.ageAnnotations,
          rightAnnotations: this.deadLetterAgeAnnotations,
          leftYAxis: SECONDS_AXIS,
          rightYAxis: SECONDS_AXIS,
        }),
        new GraphWidget({
          title: 'In flight (received, not yet deleted)',
          width: 8,
          height: GRAPH_HEIGHT,
          left: [this.inFlightMetric.with({ label: 'Queue' })],
          right: [this.deadLetterInFlightMetric.with({ label: 'DLQ' })],
          leftYAxis: COUNT_AXIS,
          rightYAxis: COUNT_AXIS,
        }),
      ),
    ];
  }
}

/** Properties of {@link StageFunctionMonitoring}. */
export interface StageFunctionMonitoringProps extends LambdaFunctionMonitoringProps {
  /** The function's timeout, drawn on the duration graph. */
  readonly timeout: Duration;
  /** Maximum concurrency of the function's SQS event source (the semaphore), drawn on the concurrency graph. */
  readonly maxConcurrency: number;
}

/**
 * A stage function as one row: invocations; errors and throttles; duration p50 / p99 against the timeout;
 * concurrent executions against the event source's maximum concurrency.
 * @example
 * facade.addSegment(new StageFunctionMonitoring(facade, { lambdaFunction, timeout, maxConcurrency: 5 }));
 */
export class StageFunctionMonitoring extends LambdaFunctionMonitoring {
  readonly timeout: Duration;
  readonly maxConcurrency: number;

  constructor(scope: MonitoringScope, props: StageFunctionMonitoringProps) {
    super(scope, props);
    this.timeout = props.timeout;
    this.maxConcurrency = props.maxConcurrency;
  }

  override summaryWidgets(): IWidget[] {
    return [];
  }

  override widgets(): IWidget[] {
    const timeout: HorizontalAnnotation = {
      value: this.timeout.toMilliseconds(),
      label: `Timeout (${this.timeout.toSeconds()} s)`,
      color: Color.RED,
    };
    const semaphore: HorizontalAnnotation = {
      value: this.maxConcurrency,
      label: `Maximum concurrency (${this.maxConcurrency})`,
      color: Color.RED,
    };
    return [
      this.createTitleWidget(),
      new Row(
        new GraphWidget({
          title: 'Invocations',
          width: 6,
          height: GRAPH_HEIGHT,
          left: [this.invocationCountMetric],
          leftYAxis: COUNT_AXIS,
        }),
        new GraphWidget({
          title: 'Errors and throttles',
          width: 6,
          height: GRAPH_HEIGHT,
          left: [this.faultCountMetric.with({ label: 'Errors' }), this.throttlesCountMetric],
          // The library puts the throttle alarm's line with the invocation counts.
          leftAnnotations: [...this.errorCountAnnotations, ...this.invocationCountAnnotations],
          leftYAxis: COUNT_AXIS,
        }),
        new GraphWidget({
          title: 'Duration against the timeout',
          width: 6,
          height: GRAPH_HEIGHT,
          left: [this.p50LatencyMetric, this.p99LatencyMetric],
          leftAnnotations: [timeout, ...this.latencyAnnotations],
          leftYAxis: MILLISECONDS_AXIS,
        }),
        new GraphWidget({
          title: 'Concurrent executions against the semaphore',
          width: 6,
          height: GRAPH_HEIGHT,
          left: [this.concurrentExecutionsCountMetric],
          leftAnnotations: [semaphore],
          leftYAxis: COUNT_AXIS,
        }),
      ),
    ];
  }
}

/** A graph of a hand-built segment. */
export interface SegmentGraph {
  readonly title: string;
  readonly width: number;
  readonly left: readonly IMetric[];
  /**
   * The graph's own time range (an ISO 8601 duration before now), independent of the dashboard's.
   * @default the dashboard's range
   */
  readonly start?: string;
  /** @default stacked lines off */
  readonly stacked?: boolean;
  /** @default from 0, no label */
  readonly leftYAxis?: YAxisProps;
  /**
   * Alarms drawn on this graph as threshold lines, keyed by severity.
   * @default none
   */
  readonly alarms?: Readonly<
    Record<string, CustomThreshold & { readonly metric: MetricWithAlarmSupport; readonly name: string }>
  >;
}

/** Properties of {@link GraphSegmentMonitoring}. */
export interface GraphSegmentMonitoringProps {
  /** Title of the segment's header. */
  readonly title: string;
  /** Prefix of the names of the segment's alarms. */
  readonly alarmFriendlyName: string;
  readonly graphs: readonly SegmentGraph[];
}

/**
 * A row of graphs built by hand, with alarms created by the library's alarm factory (so they get the facade's
 * action, naming and annotations). Used where a graph needs its own time range, e.g. daily sums over two weeks.
 * @example
 * facade.addSegment(new GraphSegmentMonitoring(facade, { title: 'Tokens', alarmFriendlyName: 'Tokens', graphs }));
 */
export class GraphSegmentMonitoring extends Monitoring {
  readonly title: string;
  readonly #widgets: IWidget[];

  constructor(scope: MonitoringScope, props: GraphSegmentMonitoringProps) {
    super(scope, { alarmFriendlyName: props.alarmFriendlyName });
    this.title = props.title;
    const alarmFactory = new CustomAlarmFactory(this.createAlarmFactory(props.alarmFriendlyName));
    this.#widgets = props.graphs.map((graph) => {
      const annotations: HorizontalAnnotation[] = [];
      for (const [severity, { metric, name, ...threshold }] of Object.entries(graph.alarms ?? {})) {
        const created: AlarmWithAnnotation = alarmFactory.addCustomAlarm(metric, name, severity, threshold);
        annotations.push(created.annotation);
        this.addAlarm(created);
      }
      return new GraphWidget({
        title: graph.title,
        width: graph.width,
        height: GRAPH_HEIGHT,
        left: [...graph.left],
        leftAnnotations: annotations,
        leftYAxis: graph.leftYAxis ?? COUNT_AXIS,
        stacked: graph.stacked ?? false,
        ...(graph.start === undefined ? {} : { start: graph.start }),
      });
    });
  }

  override summaryWidgets(): IWidget[] {
    return [];
  }

  widgets(): IWidget[] {
    return [new MonitoringHeaderWidget({ title: this.title }), new Row(...this.#widgets)];
  }
}
