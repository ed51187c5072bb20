import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';
import {
  DIMENSION_SETS,
  type DimensionSet,
  METRIC_CATALOGUE,
  METRICS_NAMESPACE,
  type MetricName,
  SERVICE_NAME,
} from './metric-catalogue.ts';
import type { Stage } from './runtime-config.ts';

/**
 * The stages' metrics and traces. Metrics are Powertools Metrics objects serialized as EMF; the serialized line
 * goes to a sink (stdout on Lambda, where CloudWatch picks EMF up) rather than to Powertools' own console, so
 * the local runtime and the tests read the very same lines without capturing the process's output.
 *
 * Per-stage counts are buffered for the invocation and flushed once at its end; metrics with other dimension
 * sets (per model, per dependency, global) are flushed as they happen, one EMF line each.
 */

/** Where serialized EMF lines go. */
export type EmfSink = (line: string) => void;

const stdoutSink: EmfSink = (line) => {
  process.stdout.write(`${line}\n`);
};

type Dimensions = Record<string, string>;

/**
 * @example
 * telemetry.count('ItemsPublished');
 * telemetry.call('gpt-4o-mini', { LlmCalls: 1, PromptTokens: 812 });
 */
export class Telemetry {
  readonly stage: Stage;
  readonly tracer: Tracer | undefined;
  readonly #sink: EmfSink;
  readonly #invocation: Metrics;

  constructor(options: { stage: Stage; sink?: EmfSink; tracer?: Tracer | undefined }) {
    this.stage = options.stage;
    this.tracer = options.tracer;
    this.#sink = options.sink ?? stdoutSink;
    this.#invocation = metricsWith({ stage: options.stage });
  }

  /** Adds to a per-stage count of this invocation. */
  count(name: StageMetric, value = 1): void {
    this.#invocation.addMetric(name, METRIC_CATALOGUE[name].unit, value);
  }

  /** One LLM call's metrics, dimensioned by stage and model. */
  call(model: string, values: Partial<Record<CallMetric, number>>): void {
    this.#emit({ stage: this.stage, model }, values);
  }

  /** A dependency's metric (a model's or the memory store's breaker). */
  dependency(dependency: string, values: Partial<Record<DependencyMetric, number>>): void {
    this.#emit({ dependency }, values);
  }

  /** A metric of the whole pipeline. */
  global(values: Partial<Record<GlobalMetric, number>>): void {
    this.#emit({}, values);
  }

  /** Writes the invocation's per-stage counts, if any. */
  flush(): void {
    if (!this.#invocation.hasStoredMetrics()) return;
    this.#sink(JSON.stringify(this.#invocation.serializeMetrics()));
    this.#invocation.clearMetrics();
  }

  #emit(dimensions: Dimensions, values: Partial<Record<MetricName, number>>): void {
    const metrics = metricsWith(dimensions);
    for (const [name, value] of Object.entries(values) as [MetricName, number | undefined][]) {
      if (value !== undefined) metrics.addMetric(name, METRIC_CATALOGUE[name].unit, value);
    }
    if (metrics.hasStoredMetrics()) this.#sink(JSON.stringify(metrics.serializeMetrics()));
  }
}

type MetricsOf<Set extends DimensionSet> = {
  [Name in MetricName]: (typeof METRIC_CATALOGUE)[Name]['dimensions'] extends Set ? Name : never;
}[MetricName];
export type StageMetric = MetricsOf<'stage'>;
export type CallMetric = MetricsOf<'call'>;
export type DependencyMetric = MetricsOf<'dependency'>;
export type GlobalMetric = MetricsOf<'global'>;

function metricsWith(dimensions: Dimensions): Metrics {
  return new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME, defaultDimensions: dimensions });
}

/** The dimension names of a catalogue metric, `service` first, as CloudWatch sees them. */
export function dimensionsOf(name: MetricName): readonly string[] {
  return DIMENSION_SETS[METRIC_CATALOGUE[name].dimensions];
}

/**
 * Runs `work` inside an X-Ray subsegment when tracing is on (on Lambda); as is, elsewhere.
 * @example await traced(tracer, '### LLM gpt-4o-mini', { itemId }, () => llm.complete(request));
 */
export async function traced<T>(
  tracer: Tracer | undefined,
  name: string,
  annotations: Record<string, string>,
  work: () => Promise<T>,
): Promise<T> {
  const parent = tracer?.isTracingEnabled() ? tracer.getSegment() : undefined;
  if (tracer === undefined || parent === undefined) return work();
  const subsegment = parent.addNewSubsegment(name);
  for (const [key, value] of Object.entries(annotations)) subsegment.addAnnotation(key, value);
  tracer.setSegment(subsegment);
  try {
    return await work();
  } catch (error) {
    subsegment.addError(error as Error);
    throw error;
  } finally {
    subsegment.close();
    tracer.setSegment(parent);
  }
}
