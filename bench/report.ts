import type { ColdStartResult } from './cold-start.ts';
import type { OutageResult, RequestsResult, UtilizationResult } from './measures.ts';
import type { OverheadResult } from './overhead.ts';
import { AWS_PRICES } from './prices.ts';

/** Everything one `npm run bench` measured; absent parts were not selected with `--only`. */
export interface BenchResults {
  startedAt: string;
  node: string;
  cpus: number;
  command: string;
  utilization?: UtilizationResult[];
  requests?: RequestsResult[];
  coldStart?: ColdStartResult;
  outage?: OutageResult;
  overhead?: OverheadResult;
}

const pct = (value: number, digits = 1) => `${(value * 100).toFixed(digits)} %`;
const num = (value: number, digits = 1) =>
  value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const usd = (value: number) => `$${value < 0.01 ? value.toFixed(5) : value.toFixed(4)}`;

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** Limits set far out of reach read as unlimited. */
const limitText = (value: number | undefined) =>
  value === undefined || value >= 100_000_000 ? '∞' : value.toLocaleString('en-US');

function utilizationSection(results: readonly UtilizationResult[]): string {
  const rows = results.flatMap((result) =>
    result.variants.flatMap((variant) =>
      variant.models.map((model) => [
        result.config.name,
        variant.variant,
        `${model.stage} (${model.model})`,
        `${model.bindingTerm}: ${num(model.bindingCallsPerMinute, 0)}`,
        model.measuredCallsPerMinute === undefined ? 'too short' : num(model.measuredCallsPerMinute, 0),
        model.utilization === undefined ? '–' : `**${pct(model.utilization)}**`,
        `${model.rateLimited} / ${model.calls} (${pct(model.rateLimitedShare, 2)})`,
        num(variant.itemsPerMinute, 0),
        String(variant.deadLettered),
        variant.failedChecks.length === 0 ? 'all pass' : `${variant.failedChecks.length} failed`,
      ]),
    ),
  );
  const configs = results
    .map(
      (result) =>
        `- **${result.config.name}** (${result.config.items} items): concurrency extract ${result.config.concurrency.extract}, draft ${result.config.concurrency.draft}; provider limits ${Object.entries(
          result.config.limits,
        )
          .map(([model, limits]) => `${model} ${limitText(limits.rpm)} RPM / ${limitText(limits.tpm)} TPM`)
          .join(', ')}`,
    )
    .join('\n');
  return [
    '## 1. Limit utilization',
    '',
    'Throughput of each model in the steady part of the run (whole minutes from a minute after its first answer to',
    'before the 90th percentile of its answered calls, as a provider counts per sliding minute; for the',
    'concurrency-bound runs, the 10th to the 90th percentile) as a share of the binding limit min(60·C/W, RPM, TPM / tokens per call), with W = 0.5 s (simulated latency',
    'uniform 200–800 ms) and tokens per call as the provider counted them (at admission: prompt estimate + max_tokens) in the same run; 429s over all calls of the model.',
    '`naive` is the same handlers with no rate limiter, the breaker off and the openai SDK’s default two retries.',
    '',
    table(
      [
        'config',
        'variant',
        'stage (model)',
        'binding (calls/min)',
        'measured calls/min',
        'utilization',
        '429s',
        'items/min',
        'dead-lettered',
        'invariants',
      ],
      rows,
    ),
    '',
    configs,
  ].join('\n');
}

function requestsSection(results: readonly RequestsResult[]): string {
  const perItem = results.flatMap((result) =>
    (['extract', 'draft'] as const).map((stage) => [
      String(result.batchSize),
      stage,
      num(result.llmCallsPerItem[stage], 2),
      `**${num(result.requestsPerItem[stage], 2)}**`,
      num(result.emptyReceivesPerItem[stage], 2),
    ]),
  );
  const costs = results.flatMap((result) =>
    (['extract', 'draft'] as const).map((stage) => {
      const cost = result.cost.perThousandItems[stage];
      return [
        String(result.batchSize),
        stage,
        num(cost.sqsRequests, 0),
        num(cost.dynamoDbWriteUnits, 0),
        num(cost.indexWriteUnits, 0),
        num(cost.dynamoDbReadUnits, 0),
        num(cost.lambdaGbSeconds, 1),
        usd(cost.usd.sqs),
        usd(cost.usd.dynamoDb),
        usd(cost.usd.lambda),
        usd(cost.usd.total),
      ];
    }),
  );
  const totals = results.map((result) => [
    String(result.batchSize),
    usd(result.cost.infraUsdPerThousand),
    usd(result.cost.llmUsdPerThousand),
    `**${pct(result.cost.infraShareOfLlm)}**`,
  ]);
  const first = results[0];
  const breakdown =
    first === undefined
      ? ''
      : table(
          ['stage', 'service', 'operation', 'record / queue', 'per item'],
          first.breakdown.map((row) => [row.stage, row.service, row.operation, row.target, num(row.perItem, 2)]),
        );
  return [
    '## 2. Requests and cost per item',
    '',
    `Happy path (no faults; limits configured but not binding; simulated latency 200–800 ms), ${first?.items ?? 0} items.`,
    'Requests are counted by a middleware on the SDK clients the handlers and event sources use; DynamoDB units',
    'as the emulator reports them (`ReturnConsumedCapacity`), plus the ByState index’s writes (projection ALL:',
    'one per item-record write, at its size). Lambda GB-seconds are memory × measured handler time, LLM waits',
    `included. Prices: ${AWS_PRICES.asOf} — SQS $${AWS_PRICES.sqsPerMillionRequests}/M requests, DynamoDB on-demand`,
    `$${AWS_PRICES.dynamoDbPerMillionWriteUnits}/M write units and $${AWS_PRICES.dynamoDbPerMillionReadUnits}/M read units, Lambda arm64`,
    `$${AWS_PRICES.lambdaArmPerGbSecond}/GB-s and $${AWS_PRICES.lambdaPerMillionRequests}/M requests.`,
    '',
    table(['batch size', 'stage', 'LLM calls / item', 'AWS requests / item', 'idle empty receives / item'], perItem),
    '',
    'Per 1,000 items:',
    '',
    table(
      [
        'batch size',
        'stage',
        'SQS requests',
        'DynamoDB WRU',
        'index WRU',
        'DynamoDB RRU',
        'Lambda GB-s',
        'SQS $',
        'DynamoDB $',
        'Lambda $',
        'infra $',
      ],
      costs,
    ),
    '',
    table(['batch size', 'infrastructure $ / 1,000 items', 'LLM $ / 1,000 items', 'infra / LLM'], totals),
    '',
    `Where the requests go (batch size ${first?.batchSize ?? '?'}):`,
    '',
    breakdown,
  ].join('\n');
}

function coldStartSection(result: ColdStartResult): string {
  const kb = (bytes: number) => `${num(bytes / 1024, 0)} KiB`;
  return [
    '## 3. Cold start',
    '',
    result.method,
    '',
    table(
      ['stage', 'packaging', 'function asset', 'zipped', 'layer', 'import ms: median (min–max)'],
      result.variants.map((variant) => [
        variant.stage,
        variant.packaging,
        kb(variant.bundleBytes),
        variant.zippedBytes === undefined ? '–' : kb(variant.zippedBytes),
        variant.layerBytes === 0 ? '–' : kb(variant.layerBytes),
        `**${num(variant.importMs.median, 0)}** (${num(variant.importMs.min, 0)}–${num(variant.importMs.max, 0)})`,
      ]),
    ),
  ].join('\n');
}

function outageSection(result: OutageResult): string {
  return [
    '## 4. Outage recovery',
    '',
    `${result.items} items, RPM-bound (${Object.entries(result.limits)
      .map(([model, limits]) => `${model} ${limits.rpm} RPM`)
      .join(', ')}), concurrency 8 per stage, the default breaker; the provider answers 503 to every call from`,
    `${result.outage.atSeconds} s to ${result.outage.atSeconds + result.outage.forSeconds} s. Recovery: from the provider's`,
    'recovery to the first 5-second bucket in which the extract model answers ≥ 90 % of its pre-outage rate.',
    '',
    table(
      [
        'calls during the outage',
        'breaker opens',
        'rate before (calls/s)',
        'recovery to full rate',
        'dead-lettered',
        'lost',
        'published',
      ],
      [
        [
          String(result.callsDuringOutage),
          String(result.breakerOpened),
          num(result.rateBefore, 2),
          result.recoverySeconds === undefined ? 'never' : `**${num(result.recoverySeconds, 0)} s**`,
          `**${result.deadLettered}**`,
          String(result.lost),
          String(result.published),
        ],
      ],
    ),
  ].join('\n');
}

function overheadSection(result: OverheadResult): string {
  return [
    '## 5. Overhead ceiling',
    '',
    `${result.items} items, a simulator that answers at once, no limits, concurrency 8 per stage — everything in one`,
    'Node.js process on this machine (emulators, handlers, simulator).',
    '',
    table(
      ['items / s', 'LLM calls / s', 'AWS requests / s', 'CPU busy / wall'],
      [
        [
          `**${num(result.itemsPerSecond, 1)}**`,
          num(result.llmCallsPerSecond, 1),
          num(result.awsRequestsPerSecond, 0),
          pct(result.cpuMs / result.wallMs, 0),
        ],
      ],
    ),
    '',
    'Where the CPU time goes (V8 sampling profile, self time):',
    '',
    table(
      ['category', 'share'],
      result.profile.filter((entry) => entry.share >= 0.005).map((entry) => [entry.category, pct(entry.share)]),
    ),
  ].join('\n');
}

export function renderMarkdown(results: BenchResults): string {
  const sections = [
    `Measured ${results.startedAt} with \`${results.command}\` (Node ${results.node}, ${results.cpus} CPUs), the embedded runtime and the LLM simulator as the provider.`,
  ];
  if (results.utilization) sections.push(utilizationSection(results.utilization));
  if (results.requests) sections.push(requestsSection(results.requests));
  if (results.coldStart) sections.push(coldStartSection(results.coldStart));
  if (results.outage) sections.push(outageSection(results.outage));
  if (results.overhead) sections.push(overheadSection(results.overhead));
  return `${sections.join('\n\n')}\n`;
}
