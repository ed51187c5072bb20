import * as z from 'zod';
import { PIPELINE } from '#functions/pipeline.ts';
import { RANGES, type Range } from '#shared/config-ranges.ts';
import type { Pipeline, StageDefaults } from '#shared/pipeline.ts';
import { RATE_LIMIT_DIALECTS, TOKEN_COUNTINGS } from '#shared/provider-limits.ts';
import type { ModelPrice, RuntimeConfig, Stage } from '#shared/runtime-config.ts';

/**
 * The one typed, validated configuration of the stack, read from the `sluice` object of the `cdk.json`
 * context. Every key has a default, so `{}` is a complete configuration; a wrong value fails synth with the
 * key path and the allowed range.
 */

/** A configuration value is out of range, of the wrong type, unknown, or inconsistent with another one. */
export class ConfigError extends Error {
  /** Every problem found, each as `<key path> <what is wrong>`. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options?: { cause?: unknown }) {
    super(`Invalid sluice config: ${problems.join('; ')}`, options);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

/** Log levels Powertools Logger understands. */
const LOG_LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/** Public list prices (US dollars per million tokens) of the models the defaults use. */
const DEFAULT_PRICES: Readonly<Record<string, ModelPrice>> = {
  'gpt-4o-mini': { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
  'gpt-4.1-mini': { inputPerMillionUsd: 0.4, outputPerMillionUsd: 1.6 },
};

/** Complete ARN of a Secrets Manager secret, including the six random characters Secrets Manager appends. */
const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$/;

function shown(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}

/** An integer in [min, max]; every failure names the range and the value received. */
function integerBetween(min: number, max: number) {
  const range = `between ${min} and ${max}`;
  return z
    .number({ error: (issue) => `must be a whole number ${range} (got ${shown(issue.input)})` })
    .int({ error: (issue) => `must be a whole number ${range} (got ${shown(issue.input)})` })
    .min(min, { error: (issue) => `must be ${range} (got ${shown(issue.input)})` })
    .max(max, { error: (issue) => `must be ${range} (got ${shown(issue.input)})` });
}

/** A number in [min, max]; every failure names the range and the value received. */
function numberBetween(min: number, max: number) {
  const range = `between ${min} and ${max}`;
  return z
    .number({ error: (issue) => `must be a number ${range} (got ${shown(issue.input)})` })
    .min(min, { error: (issue) => `must be ${range} (got ${shown(issue.input)})` })
    .max(max, { error: (issue) => `must be ${range} (got ${shown(issue.input)})` });
}

/** A setting in its range (config-ranges.ts), whole or not as the range says. */
function within(range: Range) {
  return range.whole ? integerBetween(range.min, range.max) : numberBetween(range.min, range.max);
}

/** One of `values`; a failure lists them and names the value received. */
function oneOf<const Values extends readonly [string, ...string[]]>(values: Values) {
  const allowed = values.map((value) => JSON.stringify(value)).join(', ');
  return z.enum(values, { error: (issue) => `must be one of ${allowed} (got ${shown(issue.input)})` });
}

function nonEmptyString() {
  return z
    .string({ error: (issue) => `must be a non-empty string (got ${shown(issue.input)})` })
    .min(1, { error: 'must be a non-empty string (got "")' });
}

/** An object that rejects unknown keys, so a misspelt setting fails instead of being silently ignored. */
function section<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `has unknown key(s) ${issue.keys.map((key) => JSON.stringify(key)).join(', ')}`
        : `must be an object (got ${shown(issue.input)})`,
  });
}

const modelPriceConfigSchema = section({
  /** US dollars per million prompt tokens. */
  inputPerMillionUsd: within(RANGES.price.perMillionUsd),
  /** US dollars per million completion tokens. */
  outputPerMillionUsd: within(RANGES.price.perMillionUsd),
});

function stageSchema(defaults: StageDefaults) {
  return {
    /** Model this stage calls. It must have an entry in `prices`. */
    model: nonEmptyString().default(defaults.model),
    /**
     * Reserved concurrency of the stage function (2..1000): it guarantees the stage can scale to
     * `maxConcurrency` and caps it there, whatever else runs in the account.
     */
    reservedConcurrency: integerBetween(2, 1000).default(defaults.reservedConcurrency),
    /**
     * Maximum concurrency of the SQS event source (2..1000): the semaphore on concurrent batches, hence on
     * concurrent LLM calls. At most `reservedConcurrency` while reserved concurrency is enabled.
     */
    maxConcurrency: within(RANGES.stage.maxConcurrency).default(defaults.maxConcurrency),
    /**
     * Records per invocation (1..10). With 1, `maxConcurrency` is exactly the number of items in flight and a slow
     * item never holds others past their visibility timeout.
     */
    batchSize: integerBetween(1, 10).default(defaults.batchSize),
    /**
     * Function timeout in seconds (6..900); the queue's visibility timeout is six times this, so a crashed
     * invocation's messages come back after six timeouts. At least 6 s: 5 s are kept for the shortest LLM call
     * and the checkpoint that follows it.
     */
    timeoutSeconds: integerBetween(6, 900).default(defaults.timeoutSeconds),
    /** Function memory in MB (128..10240); Lambda allocates CPU in proportion. */
    memoryMb: integerBetween(128, 10_240).default(defaults.memoryMb),
    /** Upper bound of completion tokens per call (64..32000), reserved against the budgets before each call. */
    maxOutputTokens: within(RANGES.stage.maxOutputTokens).default(defaults.maxOutputTokens),
  };
}

/** One LLM step's own model and completion limit; either left out means the stage's. */
const stepConfigSchema = section({
  /** Model of this step's calls. It must have an entry in `prices`. */
  model: nonEmptyString().optional(),
  /** Upper bound of completion tokens of this step's calls (64..32000). */
  maxOutputTokens: within(RANGES.stage.maxOutputTokens).optional(),
});

/** Settings of one stage, every default filled in. */
export interface StageConfig {
  model: string;
  reservedConcurrency: number;
  maxConcurrency: number;
  batchSize: number;
  timeoutSeconds: number;
  memoryMb: number;
  maxOutputTokens: number;
  /** Per-step overrides, by step name (e.g. `review`). */
  steps: Record<string, { model?: string | undefined; maxOutputTokens?: number | undefined }>;
  /** Only for a stage that redrafts after a rejected review. */
  maxRevisions?: number;
}

/** What `cdk.json` may set for one stage (every key optional). */
export type StageConfigInput = Partial<Omit<StageConfig, 'steps'>> & {
  steps?: Record<string, { model?: string; maxOutputTokens?: number } | undefined>;
};

/** The `stages` section for a pipeline: one section per stage, with the stage's own defaults and steps. */
function stagesSchemaFor(pipeline: Pipeline) {
  const shape = Object.fromEntries(
    pipeline.stages.map((stage) => {
      const steps = section(
        Object.fromEntries(stage.steps.map((step) => [step.name, stepConfigSchema.prefault({})])),
      ).prefault({});
      const revisions =
        stage.maxRevisions === undefined
          ? {}
          : {
              /** Redrafts after a rejected review (0..10), bounded also by `itemTokenBudget`. */
              maxRevisions: within(RANGES.stage.maxRevisions).default(stage.maxRevisions),
            };
      return [stage.name, section({ ...stageSchema(stage.defaults), steps, ...revisions }).prefault({})];
    }),
  );
  // The shape is built from the pipeline, so its static type is spelt out here.
  return section(shape).prefault({}) as unknown as z.ZodPrefault<
    z.ZodType<Record<string, StageConfig>, Record<string, StageConfigInput | undefined>>
  >;
}

/**
 * Schema of the `sluice` context object. Parse with {@link loadConfig}, which formats the errors.
 *
 * @example
 * const parsed = sluiceConfigSchema.safeParse({ stages: { extract: { batchSize: 2 } } });
 */
function configSchemaFor(pipeline: Pipeline) {
  return section({
    llm: section({
      /**
       * Base URL of any OpenAI-compatible server (e.g. `https://openrouter.ai/api/v1`).
       * @default the SDK's default, https://api.openai.com/v1
       */
      baseUrl: z
        .url({
          protocol: /^https?$/,
          error: (issue) => `must be an http(s) URL (got ${shown(issue.input)})`,
        })
        .optional(),
      /**
       * Timeout of one LLM call in seconds (1..900); the function always caps it by the time left in the invocation.
       * @default 60
       */
      timeoutSeconds: within(RANGES.llm.timeoutSeconds).default(60),
      /**
       * Model used while the primary model's breaker is open; it must have an entry in `prices`.
       * @default none: calls are deferred instead
       */
      fallbackModel: nonEmptyString().optional(),
      /**
       * Whether each call asks for about what its step's answers need (the 99th percentile of the completion sizes
       * of the last two days, plus a fifth) instead of the configured `maxOutputTokens`, once 20 answers are known.
       * Providers count `max_tokens` against the tokens-per-minute limit when they admit a call, so asking for the
       * maximum every time wastes most of that limit. An answer cut at the learned size is asked again, once, at
       * the maximum (both calls are paid and in the ledger).
       * @default true
       */
      learnMaxTokens: z
        .boolean({ error: (issue) => `must be true or false (got ${shown(issue.input)})` })
        .default(true),
    }).prefault({}),
    /**
     * Complete ARN of an existing Secrets Manager secret holding the LLM API key (plain string value).
     * @default none: the stack creates a secret, whose value you set after the first deploy
     */
    apiKeySecretArn: z
      .string({ error: (issue) => `must be a string (got ${shown(issue.input)})` })
      .regex(SECRET_ARN, {
        error: (issue) =>
          `must be the complete ARN of a Secrets Manager secret, arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters> (got ${shown(issue.input)})`,
      })
      .optional(),
    /**
     * Price of each model in US dollars per million tokens. Entries given here are added to (or replace) the
     * defaults.
     * @default gpt-4o-mini (0.15 / 0.60) and gpt-4.1-mini (0.40 / 1.60)
     */
    prices: z
      .record(nonEmptyString(), modelPriceConfigSchema, {
        error: (issue) => `must be an object of model name to price (got ${shown(issue.input)})`,
      })
      .optional()
      .transform((prices): Record<string, ModelPrice> => ({ ...DEFAULT_PRICES, ...prices })),
    /** One section per stage of the pipeline (functions/pipeline.ts), under the stage's name. */
    stages: stagesSchemaFor(pipeline),
    /**
     * Whether stage functions get reserved concurrency. Turn it off in new accounts whose concurrency quota is 10:
     * Lambda refuses reservations that leave fewer than 10 unreserved.
     * @default true
     */
    reservedConcurrencyEnabled: z
      .boolean({ error: (issue) => `must be true or false (got ${shown(issue.input)})` })
      .default(true),
    /**
     * Receives before SQS moves a message to the DLQ (5..1000). A backstop for crashes and timeouts only:
     * classified failures are dead-lettered by the handler after `maxAttempts`.
     * @default 5
     */
    maxReceiveCount: integerBetween(5, 1000).default(5),
    /**
     * Real failed attempts per item and stage before the handler dead-letters it (1..100); waiting for a rate limit,
     * a breaker or the budget does not count. Less than `maxReceiveCount`.
     * @default 3
     */
    maxAttempts: within(RANGES.maxAttempts).default(3),
    /**
     * Most tokens (prompt + completion, every call of both stages) one item may use (1000..10000000).
     * @default 30000
     */
    itemTokenBudget: within(RANGES.itemTokenBudget).default(30_000),
    /**
     * Most US dollars all LLM calls of one UTC day may cost (0..1000000).
     * @default 25
     */
    dailyBudgetUsd: within(RANGES.dailyBudgetUsd).default(25),
    /**
     * Days (30..3650) the state table keeps what the pipeline is done with: a settled item (published,
     * dead-lettered, discarded) this long after it settled, a call's ledger row after the call, a day's usage and
     * budget records after the day. DynamoDB's TTL deletes them (on `expiresAt`), so the table stops growing with
     * time; the totals of a day older than this are gone with its usage records.
     * @default 90
     */
    retentionDays: within(RANGES.retentionDays).default(90),
    memory: section({
      /**
       * Timeout of the related-items lookup in milliseconds (50..30000); past it the draft goes ahead without
       * history and the item is flagged degraded.
       * @default 1500
       */
      lookupTimeoutMs: within(RANGES.memory.lookupTimeoutMs).default(1500),
      /**
       * Most related past items given to the draft (0..50).
       * @default 5
       */
      maxRelated: within(RANGES.memory.maxRelated).default(5),
    }).prefault({}),
    /**
     * The provider's rate limits per model (requests and tokens per minute), enforced across every function
     * instance by the shared rate limiter. A model without an entry is not limited by sluice.
     * @default {} (no limits)
     */
    limits: z
      .record(
        nonEmptyString(),
        section({
          /** Requests per minute (1..1000000). */
          rpm: within(RANGES.limits.rpm).optional(),
          /** Tokens (prompt + completion) per minute (100..1000000000). */
          tpm: within(RANGES.limits.tpm).optional(),
          /**
           * How the provider counts a request's tokens against `tpm`: `admission` charges the prompt estimate plus
           * `max_tokens` when it admits the request and gives nothing back (OpenAI's documented rule);
           * `admission-max` charges the larger of the two; `usage` counts the tokens the answer used.
           * @default 'admission'
           */
          tokenCounting: oneOf(TOKEN_COUNTINGS).default('admission'),
          /**
           * The rate-limit headers the provider sends: `openai` (`x-ratelimit-*`, per minute), `openai-rpd` (the same
           * names, with the `-requests` ones per day), `anthropic` (`anthropic-ratelimit-*`, RFC 3339 resets) or
           * `none` (ignored; only a 429's `retry-after` counts).
           * @default 'openai'
           */
          headers: oneOf(RATE_LIMIT_DIALECTS).default('openai'),
        }),
        {
          error: (issue) =>
            `must be an object of model name to { rpm, tpm, tokenCounting, headers } (got ${shown(issue.input)})`,
        },
      )
      .default({}),
    retry: section({
      /**
       * First backoff step in milliseconds (1..600000); it doubles with every failed attempt, and the wait is at
       * least half the step and at most the whole step (equal jitter: half fixed, half random). A provider's
       * Retry-After wins when it asks for longer. The default makes the waits before the 2nd and 3rd attempts
       * 3.5–7 s and 7–14 s, so the default 3 attempts cannot be spent in under 10.5 s on a burst of 5xx.
       * @default 7000
       */
      baseDelayMs: within(RANGES.retry.baseDelayMs).default(7000),
      /**
       * Largest backoff step in milliseconds (1..900000): at most the 15 minutes SQS can delay a message handed
       * back to wait.
       * @default 120000
       */
      maxDelayMs: within(RANGES.retry.maxDelayMs).default(120_000),
      /**
       * Waits up to this many milliseconds (0..60000) happen inside the invocation; longer ones send the message
       * back to its queue with a delay, so no Lambda sits idle.
       * @default 5000
       */
      maxInProcessWaitMs: within(RANGES.retry.maxInProcessWaitMs).default(5000),
      /**
       * Longest an item may keep waiting for a rate limit, a breaker or the budget in one stage, in hours
       * (1..336), before it is dead-lettered with DeferralLimitError instead of waiting forever unseen.
       * @default 48
       */
      maxDeferralHours: within(RANGES.retry.maxDeferralHours).default(48),
    }).prefault({}),
    breaker: section({
      /**
       * Failures of a dependency (a model, the memory store) in a row that open its circuit breaker (1..100) while
       * it sees fewer than `minCalls` calls in the window (low traffic, where a rate says little). At most
       * `maxAttempts` keeps a lone item from being dead-lettered by an outage before the breaker opens.
       * @default 3
       */
      failureThreshold: within(RANGES.breaker.failureThreshold).default(3),
      /**
       * The window in seconds (1..3600) over which calls are counted for the failure rate; failures in a row are
       * counted within this many seconds of the first of them.
       * @default 30
       */
      windowSeconds: within(RANGES.breaker.windowSeconds).default(30),
      /**
       * Fewest calls in the window (2..10000) for the failure rate to decide instead of failures in a row. Smaller
       * decides sooner but on fewer calls: at 20, a steady 5 % of failures has about one chance in a hundred million
       * of looking like 50 %.
       * @default 20
       */
      minCalls: within(RANGES.breaker.minCalls).default(20),
      /**
       * Percentage of failed calls (1..100), among the window's newest calls once they are at least `minCalls`, that
       * opens the breaker.
       * @default 50
       */
      failureRatePercent: within(RANGES.breaker.failureRatePercent).default(50),
      /**
       * Seconds an open breaker waits before letting exactly one caller probe the dependency (1..3600).
       * @default 30
       */
      cooldownSeconds: within(RANGES.breaker.cooldownSeconds).default(30),
    }).prefault({}),
    /**
     * The supervisor: a scheduled function (locally a timer in `sluice dev`) that pauses a stage whose model stays
     * unavailable or whose budget is spent, probes and resumes it, adapts each stage's concurrency to the provider,
     * and re-queues items drafted without history once the memory store is back.
     */
    supervisor: section({
      /**
       * Whether the supervisor runs at all.
       * @default true
       */
      enabled: z.boolean({ error: (issue) => `must be true or false (got ${shown(issue.input)})` }).default(true),
      /**
       * Seconds between two looks (1..3600). On AWS the schedule fires every whole minute at most, and an interval
       * under 60 s is kept by ticking within each invocation.
       * @default 60
       */
      intervalSeconds: within(RANGES.supervisor.intervalSeconds).default(60),
      /**
       * Seconds (5..86400) a stage's models may stay unavailable (every breaker it could use open) before its event
       * source is disabled, so no function spins on deferrals.
       * @default 300
       */
      pauseAfterSeconds: within(RANGES.supervisor.pauseAfterSeconds).default(300),
      /**
       * Seconds (5..86400) within which a resumed stage must be seen to process items (or its queue be empty);
       * otherwise the resume is reported unverified (metric, alarm, log).
       * @default 600
       */
      verifySeconds: within(RANGES.supervisor.verifySeconds).default(600),
      adaptiveConcurrency: section({
        /**
         * Whether each stage's event source maximum concurrency follows the provider (between 2 and the stage's
         * `maxConcurrency`).
         * @default true
         */
        enabled: z.boolean({ error: (issue) => `must be true or false (got ${shown(issue.input)})` }).default(true),
        /**
         * Factor (0.1..0.95) the concurrency is multiplied by on sustained 429s or latency growth.
         * @default 0.7
         */
        decreaseFactor: within(RANGES.supervisor.adaptiveConcurrency.decreaseFactor).default(0.7),
        /**
         * Share of a look's calls (0..1) answered 429 above which the concurrency is decreased.
         * @default 0.01
         */
        throttleRatio: within(RANGES.supervisor.adaptiveConcurrency.throttleRatio).default(0.01),
        /**
         * Mean call latency, as a multiple (1.1..100) of the stage's healthy baseline, above which the concurrency
         * is decreased.
         * @default 2
         */
        latencyFactor: within(RANGES.supervisor.adaptiveConcurrency.latencyFactor).default(2),
      }).prefault({}),
      reenrich: section({
        /**
         * Whether items drafted without history are re-queued for a redraft once the memory store answers the supervisor's lookup again.
         * @default true
         */
        enabled: z.boolean({ error: (issue) => `must be true or false (got ${shown(issue.input)})` }).default(true),
        /**
         * Most items re-queued per look (1..10000).
         * @default 100
         */
        maxPerRun: within(RANGES.supervisor.reenrich.maxPerRun).default(100),
        /**
         * Most items re-queued per second (1..1000).
         * @default 5
         */
        perSecond: within(RANGES.supervisor.reenrich.perSecond).default(5),
        /**
         * Most automatic re-enrichments of one item (1..10), so an item whose redraft degrades again is not
         * re-queued forever.
         * @default 2
         */
        maxPerItem: within(RANGES.supervisor.reenrich.maxPerItem).default(2),
      }).prefault({}),
    }).prefault({}),
    /**
     * Whether the shared third-party runtime dependencies ship in a Lambda layer (see layers/README.md) instead of
     * in each function bundle.
     * @default false
     */
    useDependencyLayer: z
      .boolean({ error: (issue) => `must be true or false (got ${shown(issue.input)})` })
      .default(false),
    /**
     * Powertools log level of the stage functions.
     * @default 'INFO'
     */
    logLevel: z
      .enum(LOG_LEVELS, { error: (issue) => `must be one of ${LOG_LEVELS.join(', ')} (got ${shown(issue.input)})` })
      .default('INFO'),
    /**
     * Retention of the function log groups in days; one of the values CloudWatch Logs accepts.
     * @default 30
     */
    logRetentionDays: z
      .literal(LOG_RETENTION_DAYS, {
        error: (issue) => `must be one of ${LOG_RETENTION_DAYS.join(', ')} (got ${shown(issue.input)})`,
      })
      .default(30),
    /**
     * Thresholds of the CloudWatch alarms (see docs/runbook.md, one section per alarm). Every alarm notifies the
     * stack's alarm topic.
     */
    alarms: section({
      /**
       * Where each alarm's description links to: the runbook's http(s) URL (e.g. on the repository host), to which
       * the alarm's `#section` is appended.
       * @default 'docs/runbook.md', a link relative to the repository
       */
      runbookUrl: z
        .url({
          protocol: /^https?$/,
          error: (issue) => `must be an http(s) URL (got ${shown(issue.input)})`,
        })
        .optional(),
      /**
       * Age in minutes (1..20160) of the oldest message on the intake or draft queue past which its alarm fires.
       * Waits re-send their message, so a healthy queue's oldest message is at most a few visibility timeouts old.
       * @default 60
       */
      oldestMessageMinutes: integerBetween(1, 20_160).default(60),
      /**
       * Window in minutes (1..60) in which any function error, or any throttle, fires its alarm.
       * @default 5
       */
      functionErrorMinutes: integerBetween(1, 60).default(5),
      /**
       * Share of the function timeout, in percent (10..100), that the p99 duration may reach before its alarm fires.
       * @default 80
       */
      durationPercentOfTimeout: integerBetween(10, 100).default(80),
      /**
       * Consecutive minutes (1..60) in which callers find a breaker (a model's or the memory store's) open before
       * its alarm fires.
       * @default 10
       */
      breakerOpenMinutes: integerBetween(1, 60).default(10),
      /**
       * Share of the daily budget, in percent (1..99), that fires the warning; the critical alarm fires at 100.
       * @default 80
       */
      budgetWarningPercent: integerBetween(1, 99).default(80),
      /**
       * Degraded items per published item (0..1) past which the degraded-ratio alarm fires.
       * @default 0.2
       */
      degradedRatio: numberBetween(0, 1).default(0.2),
      /**
       * Window in minutes (5..1440) over which the degraded ratio is computed.
       * @default 60
       */
      degradedWindowMinutes: integerBetween(5, 1440).default(60),
      /**
       * Fewest items published in the window (1..100000) for the degraded ratio to count, so one degraded item of
       * two does not fire the alarm.
       * @default 10
       */
      degradedMinPublished: integerBetween(1, 100_000).default(10),
      /**
       * Minutes (1..1440) a stage's event source must stay disabled, paused by the supervisor or an operator, before
       * its alarm fires, so a short automatic pause that the supervisor resumes by itself does not notify anyone.
       * @default 10
       */
      stagePausedMinutes: integerBetween(1, 1440).default(10),
      /**
       * Scheduled supervisor invocations in a row (1..24) that must fail before its alarm fires: one failed look is
       * simply followed by the next.
       * @default 3
       */
      supervisorFailedInvocations: integerBetween(1, 24).default(3),
    }).prefault({}),
    /**
     * Email address subscribed to the alarm topic (the recipient confirms the subscription once).
     * @default none: subscribe to the topic (stack output AlarmTopicArn) as you see fit
     */
    alarmEmail: z.email({ error: (issue) => `must be an email address (got ${shown(issue.input)})` }).optional(),
  })
    .prefault({})
    .superRefine((config, ctx) => {
      if (config.reservedConcurrencyEnabled) {
        for (const [stage, { maxConcurrency, reservedConcurrency }] of Object.entries(config.stages)) {
          if (maxConcurrency > reservedConcurrency) {
            ctx.addIssue({
              code: 'custom',
              path: ['stages', stage, 'maxConcurrency'],
              message: `must be at most stages.${stage}.reservedConcurrency (${reservedConcurrency}) while reservedConcurrencyEnabled is true (got ${maxConcurrency})`,
            });
          }
        }
      }
      const usedModels: [string, string | undefined][] = [
        ...Object.entries(config.stages).flatMap(([stage, settings]): [string, string | undefined][] => [
          [`stages.${stage}.model`, settings.model],
          ...Object.entries(settings.steps).map(([step, { model }]): [string, string | undefined] => [
            `stages.${stage}.steps.${step}.model`,
            model,
          ]),
        ]),
        ['llm.fallbackModel', config.llm.fallbackModel],
      ];
      for (const [key, model] of usedModels) {
        if (model !== undefined && config.prices[model] === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['prices'],
            message: `must have an entry for model ${JSON.stringify(model)} (used by ${key})`,
          });
        }
      }
      // Otherwise SQS's crash backstop moves a failing message to the DLQ before the handler records why.
      if (config.maxAttempts >= config.maxReceiveCount) {
        ctx.addIssue({
          code: 'custom',
          path: ['maxAttempts'],
          message: `must be less than maxReceiveCount (${config.maxReceiveCount}) (got ${config.maxAttempts})`,
        });
      }
    });
}

/**
 * Schema of the `sluice` context object for the pipeline sluice ships. Parse with {@link loadConfig}, which
 * formats the errors.
 * @example
 * const parsed = sluiceConfigSchema.safeParse({ stages: { extract: { batchSize: 2 } } });
 */
export const sluiceConfigSchema = configSchemaFor(PIPELINE);

/** The config schema of a pipeline: sluice's own, built once, or one built for another (a test's third stage). */
export function configSchemaOf(pipeline: Pipeline): typeof sluiceConfigSchema {
  return pipeline === PIPELINE ? sluiceConfigSchema : configSchemaFor(pipeline);
}

/** The validated configuration, every default filled in. */
export type SluiceConfig = z.output<typeof sluiceConfigSchema>;
/** What may be written in `cdk.json` (every key optional). */
export type SluiceConfigInput = z.input<typeof sluiceConfigSchema>;
/**
 * Settings of one stage of the config.
 * @throws {ConfigError} when the config has no such stage.
 */
export function stageConfigOf(config: SluiceConfig, stage: Stage): StageConfig {
  const settings = config.stages[stage];
  if (settings === undefined) throw new ConfigError([`stages has no stage ${JSON.stringify(stage)}`]);
  return settings;
}

/** The model and completion limit of each step of a stage, its overrides filled in from the stage's settings. */
export function stepsOf(settings: StageConfig): RuntimeConfig['steps'] {
  return Object.fromEntries(
    Object.entries(settings.steps).map(([step, override]) => [
      step,
      {
        model: override.model ?? settings.model,
        maxOutputTokens: override.maxOutputTokens ?? settings.maxOutputTokens,
      },
    ]),
  );
}

/** Every model a stage's steps call (its own model when a step does not override it), each once. */
export function stageModelsOf(settings: StageConfig): string[] {
  return [...new Set(Object.values(stepsOf(settings)).map((step) => step.model))];
}

/** Every model the config's stages, their steps and the fallback call, each once, in the pipeline's order. */
export function configuredModels(config: SluiceConfig): string[] {
  const models = [...Object.values(config.stages).flatMap(stageModelsOf), config.llm.fallbackModel];
  return [...new Set(models.filter((model): model is string => model !== undefined))];
}

export function describeIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path === '' ? `the sluice context ${issue.message}` : `${path} ${issue.message}`;
  });
}

/**
 * Validates the raw `sluice` context (undefined means all defaults).
 * @throws {ConfigError} naming every wrong key with its allowed range.
 * @example
 * const config = loadConfig(app.node.tryGetContext('sluice'));
 * config.stages.extract.maxConcurrency; // 5
 */
export function loadConfig(raw: unknown, pipeline: Pipeline = PIPELINE): SluiceConfig {
  const parsed = configSchemaOf(pipeline).safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(describeIssues(parsed.error.issues), { cause: parsed.error });
  return parsed.data;
}
