import * as z from 'zod';
import type { EmfSink } from '#shared/telemetry.ts';

/**
 * What CloudWatch would make of the functions' EMF lines, locally: every metric summed by its dimensions. The
 * progress view and the `--report` JSON read it, so the local figures are the ones the dashboard would show.
 */

const emfSchema = z.looseObject({
  _aws: z.object({
    Timestamp: z.number(),
    CloudWatchMetrics: z.array(
      z.object({
        Namespace: z.string(),
        Dimensions: z.array(z.array(z.string())),
        Metrics: z.array(z.object({ Name: z.string(), Unit: z.string().optional() })),
      }),
    ),
  }),
});

export interface MetricSeries {
  metric: string;
  dimensions: Record<string, string>;
  sum: number;
  samples: number;
  max: number;
}

/**
 * @example
 * const metrics = new LocalMetrics();
 * startDevRuntime({ emf: metrics.sink });
 * metrics.sum('ItemsPublished');
 */
export class LocalMetrics {
  readonly #series = new Map<string, MetricSeries>();
  #rejected = 0;

  /** Feeds one EMF line (anything else is counted as rejected and ignored). */
  readonly sink: EmfSink = (line) => {
    let parsed: z.infer<typeof emfSchema>;
    try {
      parsed = emfSchema.parse(JSON.parse(line));
    } catch {
      this.#rejected += 1;
      return;
    }
    for (const directive of parsed._aws.CloudWatchMetrics) {
      for (const dimensionSet of directive.Dimensions) {
        const dimensions = Object.fromEntries(dimensionSet.map((name) => [name, String(parsed[name] ?? '')]));
        for (const { Name } of directive.Metrics) {
          const raw = parsed[Name];
          const values = (Array.isArray(raw) ? raw : [raw]).map(Number).filter(Number.isFinite);
          const key = `${Name}|${JSON.stringify(dimensions)}`;
          const series = this.#series.get(key) ?? { metric: Name, dimensions, sum: 0, samples: 0, max: -Infinity };
          for (const value of values) {
            series.sum += value;
            series.samples += 1;
            series.max = Math.max(series.max, value);
          }
          this.#series.set(key, series);
        }
      }
    }
  };

  /** Sum of a metric over every series whose dimensions include `where`. */
  sum(metric: string, where: Record<string, string> = {}): number {
    return this.series(metric, where).reduce((total, series) => total + series.sum, 0);
  }

  /** Largest single value of a metric, or undefined when it was never emitted. */
  max(metric: string, where: Record<string, string> = {}): number | undefined {
    const matching = this.series(metric, where);
    return matching.length === 0 ? undefined : Math.max(...matching.map((series) => series.max));
  }

  series(metric?: string, where: Record<string, string> = {}): MetricSeries[] {
    return [...this.#series.values()].filter(
      (series) =>
        (metric === undefined || series.metric === metric) &&
        Object.entries(where).every(([name, value]) => series.dimensions[name] === value),
    );
  }

  /** Lines that were not EMF (should be 0). */
  get rejected(): number {
    return this.#rejected;
  }

  /** Every series, for the report, in a stable order. */
  toJSON() {
    return {
      series: this.series()
        .map(({ metric, dimensions, sum, samples, max }) => ({ metric, dimensions, sum, samples, max }))
        .sort((a, b) =>
          `${a.metric}${JSON.stringify(a.dimensions)}`.localeCompare(`${b.metric}${JSON.stringify(b.dimensions)}`),
        ),
      rejectedLines: this.#rejected,
    };
  }
}

export interface MetricsSummary {
  items: {
    received: number;
    extracted: number;
    published: number;
    deadLettered: number;
    degraded: number;
    /** Deliveries for a dead-lettered item that were not its redrive, acknowledged without a change. */
    staleDeliveries: number;
  };
  retries: number;
  deferrals: number;
  llm: {
    calls: number;
    promptTokens: number;
    completionTokens: number;
    costUsd: number;
    rateLimited: number;
    errors: number;
    rebilled: number;
    limiterWaits: number;
    byStageAndModel: {
      stage: string;
      model: string;
      calls: number;
      promptTokens: number;
      completionTokens: number;
      costUsd: number;
    }[];
  };
  breakers: { opened: number; openWaits: number };
  budgetUsedPercent: number | undefined;
  /** What the supervisor did: automatic pauses and resumes, probes, resumes it could not verify, re-enrichment. */
  supervisor: {
    autoPauses: number;
    autoResumes: number;
    probes: number;
    probeFailures: number;
    resumesUnverified: number;
    itemsReenriched: number;
  };
}

/** The catalogue's figures, summed as a dashboard would show them for the whole run. */
export function summariseMetrics(metrics: LocalMetrics): MetricsSummary {
  const pairs = new Map<string, { stage: string; model: string }>();
  for (const series of metrics.series('LlmCalls')) {
    const { stage = '', model = '' } = series.dimensions;
    pairs.set(`${stage}#${model}`, { stage, model });
  }
  return {
    items: {
      received: metrics.sum('ItemsReceived'),
      extracted: metrics.sum('ItemsExtracted'),
      published: metrics.sum('ItemsPublished'),
      deadLettered: metrics.sum('ItemsDeadLettered'),
      degraded: metrics.sum('ItemsDegraded'),
      staleDeliveries: metrics.sum('StaleDeliveries'),
    },
    retries: metrics.sum('Retries'),
    deferrals: metrics.sum('Deferrals'),
    llm: {
      calls: metrics.sum('LlmCalls'),
      promptTokens: metrics.sum('PromptTokens'),
      completionTokens: metrics.sum('CompletionTokens'),
      costUsd: metrics.sum('LlmCostUsd'),
      rateLimited: metrics.sum('LlmRateLimited'),
      errors: metrics.sum('LlmErrors'),
      rebilled: metrics.sum('RebilledCalls'),
      limiterWaits: metrics.sum('LimiterWaits'),
      byStageAndModel: [...pairs.values()].map(({ stage, model }) => ({
        stage,
        model,
        calls: metrics.sum('LlmCalls', { stage, model }),
        promptTokens: metrics.sum('PromptTokens', { stage, model }),
        completionTokens: metrics.sum('CompletionTokens', { stage, model }),
        costUsd: metrics.sum('LlmCostUsd', { stage, model }),
      })),
    },
    breakers: { opened: metrics.sum('BreakerOpened'), openWaits: metrics.sum('BreakerOpenWaits') },
    budgetUsedPercent: metrics.max('BudgetUsedPercent'),
    supervisor: {
      autoPauses: metrics.sum('StageAutoPaused'),
      autoResumes: metrics.sum('StageAutoResumed'),
      probes: metrics.sum('ProbeCalls'),
      probeFailures: metrics.sum('ProbeFailures'),
      resumesUnverified: metrics.sum('ResumeUnverified'),
      itemsReenriched: metrics.sum('ItemsReenriched'),
    },
  };
}
