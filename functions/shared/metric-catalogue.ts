/**
 * The one catalogue of sluice's own metrics (CloudWatch namespace `Sluice`, emitted as EMF by Powertools
 * Metrics). The functions emit exactly these names and dimension sets; the dashboard and alarms read them from
 * here, so a name cannot drift between the two. Dimension values are few (two stages, a handful of models and
 * dependencies), which keeps the number of metrics, and their cost, low.
 */

export const METRICS_NAMESPACE = 'Sluice';
/** Powertools adds the service name as a dimension of every metric. */
export const SERVICE_NAME = 'sluice';

/** The dependency name of the memory store's circuit breaker (models' breakers are named by the model). */
export const MEMORY_DEPENDENCY = 'memory';

export type MetricUnit = 'Count' | 'Milliseconds' | 'Percent' | 'None';

/** Dimension sets: every metric carries `service` plus these. */
export const DIMENSION_SETS = {
  stage: ['service', 'stage'],
  call: ['service', 'stage', 'model'],
  dependency: ['service', 'dependency'],
  global: ['service'],
} as const;
export type DimensionSet = keyof typeof DIMENSION_SETS;

export interface MetricDefinition {
  unit: MetricUnit;
  dimensions: DimensionSet;
  description: string;
}

export const METRIC_CATALOGUE = {
  ItemsReceived: {
    unit: 'Count',
    dimensions: 'stage',
    description: 'New items accepted by the extract stage (valid or not).',
  },
  ItemsExtracted: { unit: 'Count', dimensions: 'stage', description: 'Items checkpointed EXTRACTED.' },
  ItemsPublished: { unit: 'Count', dimensions: 'stage', description: 'Items PUBLISHED (degraded or not).' },
  ItemsDeadLettered: {
    unit: 'Count',
    dimensions: 'stage',
    description:
      'Items dead-lettered by the handler (invalid, permanent error, failure budget spent, waited too long).',
  },
  StaleDeliveries: {
    unit: 'Count',
    dimensions: 'stage',
    description:
      'Messages for a dead-lettered item that were not its redrive (a duplicate, a second copy of a redriven dead letter): acknowledged, nothing changed.',
  },
  ItemsDegraded: {
    unit: 'Count',
    dimensions: 'stage',
    description: 'Items published with a degraded flag (NO_HISTORY, UNAPPROVED, REVISIONS_CUT).',
  },
  Retries: {
    unit: 'Count',
    dimensions: 'stage',
    description: 'Real failed attempts that will be retried (each counts against the item).',
  },
  SecretUnavailable: {
    unit: 'Count',
    dimensions: 'stage',
    description:
      'Calls not made because the LLM API key secret could not be read (deleted, access denied) or holds no key: the item waits.',
  },
  Deferrals: {
    unit: 'Count',
    dimensions: 'stage',
    description: 'Waits that hand a message back (rate limit, breaker, budget, lease): not failures.',
  },
  LlmCalls: {
    unit: 'Count',
    dimensions: 'call',
    description: 'LLM calls answered by the provider (paid), including invalid outputs.',
  },
  LlmLatency: { unit: 'Milliseconds', dimensions: 'call', description: 'Latency of answered LLM calls.' },
  LlmRateLimited: { unit: 'Count', dimensions: 'call', description: '429 answers from the provider.' },
  LlmErrors: {
    unit: 'Count',
    dimensions: 'call',
    description: 'LLM calls that failed (no usable answer): timeouts, 5xx, connection errors.',
  },
  PromptTokens: { unit: 'Count', dimensions: 'call', description: 'Prompt tokens of answered calls (provider usage).' },
  CompletionTokens: {
    unit: 'Count',
    dimensions: 'call',
    description: 'Completion tokens of answered calls (provider usage).',
  },
  LlmCostUsd: {
    unit: 'None',
    dimensions: 'call',
    description: 'US dollars of answered calls at the configured prices.',
  },
  RebilledCalls: {
    unit: 'Count',
    dimensions: 'call',
    description: 'Calls repeated after a crash between the response and its ledger write.',
  },
  LimiterWaits: { unit: 'Count', dimensions: 'call', description: 'Calls the shared rate limiter made wait.' },
  BreakerOpened: {
    unit: 'Count',
    dimensions: 'dependency',
    description: 'A circuit breaker opened (closed or half-open to open).',
  },
  BreakerOpenWaits: {
    unit: 'Count',
    dimensions: 'dependency',
    description: 'Callers that found a breaker open and waited (or degraded, for memory).',
  },
  BudgetUsedPercent: {
    unit: 'Percent',
    dimensions: 'global',
    description: "Share of the day's LLM budget committed (spent + reserved), after each call.",
  },
  StagePaused: {
    unit: 'Count',
    dimensions: 'stage',
    description:
      "1 while the stage's event source is disabled (by the supervisor or an operator), 0 while it runs; emitted at every look of the supervisor.",
  },
  StageAutoPaused: {
    unit: 'Count',
    dimensions: 'stage',
    description:
      "The supervisor disabled the stage's event source (its models unavailable too long, or the budget spent).",
  },
  StageAutoResumed: {
    unit: 'Count',
    dimensions: 'stage',
    description:
      "The supervisor enabled the stage's event source again after a successful probe (or a new budget day).",
  },
  ResumeVerified: {
    unit: 'Count',
    dimensions: 'stage',
    description: 'A resumed stage was seen processing items (or its queue was empty) within the verify window.',
  },
  ResumeUnverified: {
    unit: 'Count',
    dimensions: 'stage',
    description: 'A resumed stage processed nothing within the verify window while its queue held messages.',
  },
  EffectiveConcurrency: {
    unit: 'Count',
    dimensions: 'stage',
    description: "The event source's maximum concurrency as adaptive concurrency last set it (2..configured).",
  },
  ProbeCalls: {
    unit: 'Count',
    dimensions: 'dependency',
    description: "The supervisor's one-token probe calls to a model whose breaker is open (paused stages).",
  },
  ProbeFailures: { unit: 'Count', dimensions: 'dependency', description: 'Probe calls that failed.' },
  ItemsReenriched: {
    unit: 'Count',
    dimensions: 'global',
    description: 'Items drafted without history that the supervisor re-queued for a redraft with history.',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRIC_CATALOGUE;
