import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { z } from 'zod';
import { type SluiceConfig, stageConfigOf, stageModelsOf } from '#lib/config.ts';
import { PUBLISHED_QUEUE_KEY, queueOutputKeys } from '#lib/outputs.ts';
import { type RunReport, summariseUsage } from '#local/run-report.ts';
import { peekAll, queueDepth } from '#ops/queue-io.ts';
import { requiredOutput, scanAll } from '#ops/table-reads.ts';
import type { CallEntry, UsageRow } from '#shared/call-ledger.ts';
import { NO_HISTORY } from '#shared/item-claim.ts';
import type { ItemRecord, ItemState } from '#shared/item-store.ts';
import type { Pipeline, StageDefinition } from '#shared/pipeline.ts';
import type { Stage } from '#shared/runtime-config.ts';
import { publishedEventSchema } from '#shared/schemas.ts';
import type { SimulatorStats } from '#sim/server.ts';
import type { CheckResult } from './check-result.ts';
import type { CrashCounts, CrashReport } from './crashes.ts';
import type { Scenario } from './scenario.ts';
import { type SelfHealingInput, selfHealingChecks } from './self-healing.ts';
import type { TimelineReport } from './timeline.ts';

/**
 * The checker of a chaos run, in the style of Jepsen's total-queue: after the run it reads everything from the
 * outside — the state table, every queue and DLQ, the simulator's counters — and checks each of sluice's
 * invariants against what was injected. Nothing here trusts the runtime's own view of what it did.
 */

/** The state of an item involved in a failed check, straight from the state table. */
export interface ItemEvidence {
  itemId: string;
  state: ItemState | 'NO_RECORD';
  attempts?: Record<Stage, number> | undefined;
  deferrals?: number | undefined;
  deferredSince?: string | undefined;
  pendingCall?: string | undefined;
  lastError?: ItemRecord['lastError'];
  deadLetter?: ItemRecord['deadLetter'];
  history?: string[] | undefined;
  calls?: number | undefined;
  rebilledCalls?: number | undefined;
  crashes?: Partial<CrashCounts> | undefined;
}

export interface CheckCounts {
  messagesSent: number;
  duplicatesSent: number;
  accepted: number;
  valid: number;
  poison: number;
  byState: Record<ItemState, number>;
  /** Items left waiting for the daily budget, their message delayed in the queue (only when expected). */
  parked: number;
  degraded: Record<string, number>;
  /** Dead letters by `<stage> <errorClass>`. */
  deadLetters: Record<string, number>;
  /** Messages the queues' redrive moved to a DLQ (no `itemId` attribute): crashes past maxReceiveCount. */
  backstopDeadLetters: number;
  /** Messages of dead-lettered items sent again after the run settled (scenarios with `lateDuplicates`). */
  lateDuplicates: number;
  events: { total: number; distinctPublications: number; invalid: number };
  ledger: { entries: number; rebilled: number; invalidOutputs: number };
  usage: { calls: number; rebilledCalls: number };
  llm: RunReport['llm'];
  budget: { day: string; committedUsd: number; spentUsd: number }[];
  breakerOpens: Record<string, number>;
  queues: Record<string, { visible: number; inFlight: number; delayed: number }>;
}

/** The dead-lettered items whose messages were sent again after the run settled, as they were before. */
export interface LateDuplicates {
  /** Messages sent (intake and draft). */
  sent: number;
  items: { itemId: string; version: number; deadLetterId: string | undefined; ledgerEntries: number }[];
  /** Calls the stages made to the provider (the supervisor's probes left out) before and after they were sent. */
  stageCallsBefore: number;
  stageCallsAfter: number;
}

export interface CheckerInput {
  scenario: Scenario;
  /** The pipeline the run ran: its stages, states and queues. */
  pipeline: Pipeline;
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  outputs: Readonly<Record<string, string>>;
  /** Ids of the items the intake accepted (from the messages sent), and which of them are poison. */
  accepted: { itemIds: readonly string[]; poisonItemIds: readonly string[] };
  messages: { sent: number; duplicates: number };
  crashes: CrashReport & { forItem(itemId: string): CrashCounts };
  simulator: SimulatorStats | undefined;
  timeline: TimelineReport;
  /** Invocations the event sources abandoned at the function timeout (a crash the chaos run did not inject). */
  pollerTimeouts: number;
  /** Whether the pipeline settled (every item finished, or parked when that is expected) before the timeout. */
  settled: boolean;
  elapsedMs: number;
  /** Calls the provider answered to the supervisor's probes: they belong to no item, so no ledger entry. */
  probeCallsAnswered?: number;
  /** What self-healing is checked from (see self-healing.ts). */
  selfHealing?: Omit<SelfHealingInput, 'scenario' | 'timeline'>;
  /** Scenarios with `lateDuplicates`: what the duplicates were sent to. */
  lateDuplicates?: LateDuplicates;
}

export interface CheckOutcome {
  ok: boolean;
  checks: CheckResult[];
  counts: CheckCounts;
  /** Items behind each failed check, by check name. */
  evidence: Record<string, ItemEvidence[]>;
}

/** How many items a failed check lists in its detail and evidence. */
const EVIDENCE_LIMIT = 10;

/** Dead letters for waiting: these causes defer the message and must never spend an item's failure budget. */
const WAITING_CLASSES = new Set([
  'RateLimitedError',
  'BreakerOpenError',
  'BudgetExhaustedError',
  'DeferralLimitError',
  'LeaseHeldError',
  'DeadlineError',
  'StateConflictError',
]);
/** Dead letters that are the design, not a fault's doing: bad input, an item too big for its token budget. */
const DELIBERATE_CLASSES = new Set(['InvalidItemError', 'ItemBudgetExceededError']);

/** Every queue of the pipeline by its name in the report (`intake`, `intakeDlq`, …, `published`), with its output key. */
function queuesOf(pipeline: Pipeline): { name: string; outputKey: string; stage?: StageDefinition; dlq: boolean }[] {
  const named = (queueKey: string) => queueKey.charAt(0).toLowerCase() + queueKey.slice(1);
  const lanes = [
    ...pipeline.stages.map((stage) => ({ queueKey: stage.queueKey, stage })),
    { queueKey: PUBLISHED_QUEUE_KEY, stage: undefined },
  ];
  return lanes.flatMap(({ queueKey, stage }) => {
    const keys = queueOutputKeys(queueKey);
    return [
      { name: named(queueKey), outputKey: keys.url, ...(stage && { stage }), dlq: false },
      { name: `${named(queueKey)}Dlq`, outputKey: keys.deadLetterUrl, dlq: true },
    ];
  });
}

/**
 * Reads the run's outcome from the tables and queues and checks every invariant.
 * @example
 * const outcome = await checkRun({ scenario, sqs, dynamo, outputs, accepted, messages, crashes, simulator, timeline, pollerTimeouts: 0, settled: true, elapsedMs });
 * outcome.checks.filter((check) => !check.ok);
 */
export async function checkRun(input: CheckerInput): Promise<CheckOutcome> {
  const { scenario, sqs, outputs, pipeline } = input;
  const config = scenario.pipeline;
  const allQueues = queuesOf(pipeline);
  const stageQueues = allQueues.filter((queue) => queue.stage !== undefined).map((queue) => queue.name);
  const publisher = pipeline.stages[pipeline.stages.length - 1] as StageDefinition;
  const publisherCrashes = input.crashes.byStage[publisher.name] ?? { 'after-send': 0, delete: 0 };
  const rows = await scanAll(input.dynamo, requiredOutput(outputs, 'StateTableName'));
  const items = new Map<string, ItemRecord>();
  const calls: CallEntry[] = [];
  const usage: UsageRow[] = [];
  const budgets: { day: string; committedNano: number; spentNano: number }[] = [];
  const breakerOpens: Record<string, number> = {};
  for (const row of rows) {
    const pk = String(row.pk);
    const sk = String(row.sk);
    // The table is written only by sluice's own modules, so each record's shape is known from its key.
    if (sk === 'ITEM') items.set(String(row.itemId), row as unknown as ItemRecord);
    else if (pk.startsWith('ITEM#') && sk.startsWith('CALL#')) calls.push(row as unknown as CallEntry);
    else if (pk.startsWith('USAGE#')) usage.push(row as unknown as UsageRow);
    else if (pk.startsWith('BUDGET#'))
      budgets.push({
        day: pk.slice('BUDGET#'.length),
        committedNano: Number(row.committedNano ?? 0),
        spentNano: Number(row.spentNano ?? 0),
      });
    else if (pk.startsWith('BREAKER#')) breakerOpens[pk.slice('BREAKER#'.length)] = Number(row.opens ?? 0);
  }
  const callsByItem = groupBy(calls, (call) => call.itemId);

  const queues: CheckCounts['queues'] = {};
  for (const { name, outputKey } of allQueues) {
    const url = outputs[outputKey];
    if (url !== undefined) queues[name] = await queueDepth(sqs, url);
  }
  const dlq = await readDeadLetterQueues(sqs, outputs, allQueues);
  const events = await readEvents(sqs, outputs);

  const evidence: Record<string, ItemEvidence[]> = {};
  const evidenceOf = (itemId: string): ItemEvidence => {
    const item = items.get(itemId);
    const itemCalls = callsByItem.get(itemId) ?? [];
    const crashes = Object.fromEntries(
      Object.entries(input.crashes.forItem(itemId)).filter(([, count]) => count > 0),
    ) as Partial<CrashCounts>;
    if (item === undefined) return { itemId, state: 'NO_RECORD', crashes };
    return {
      itemId,
      state: item.state,
      attempts: item.attempts,
      deferrals: item.deferrals,
      deferredSince: item.deferredSince === undefined ? undefined : new Date(item.deferredSince).toISOString(),
      pendingCall: item.pendingCall,
      lastError: item.lastError,
      deadLetter: item.deadLetter,
      history: item.history?.map((entry) => `${entry.state}@${entry.at.slice(11, 23)}`),
      calls: itemCalls.length,
      rebilledCalls: itemCalls.filter((call) => call.rebilled === true).length,
      crashes,
    };
  };
  const checks: CheckResult[] = [];
  const check = (result: CheckResult, involved: readonly string[] = []) => {
    checks.push(result);
    if (!result.ok && involved.length > 0) evidence[result.name] = involved.slice(0, EVIDENCE_LIMIT).map(evidenceOf);
  };

  const poisonIds = new Set(input.accepted.poisonItemIds);
  const acceptedIds = [...new Set(input.accepted.itemIds)];
  const terminal = (item: ItemRecord | undefined) => item !== undefined && pipeline.terminalStates.includes(item.state);

  // --- Nothing is lost -------------------------------------------------------------------------------------
  const pendingMessages = stageQueues.reduce(
    (sum, name) => sum + (queues[name]?.visible ?? 0) + (queues[name]?.inFlight ?? 0) + (queues[name]?.delayed ?? 0),
    0,
  );
  const delayedMessages = stageQueues.reduce((sum, name) => sum + (queues[name]?.delayed ?? 0), 0);
  const unfinished = acceptedIds.filter((id) => items.has(id) && !terminal(items.get(id)));
  const parked = scenario.expect.budgetExhausted
    ? unfinished.filter((id) => items.get(id)?.deferredSince !== undefined)
    : [];
  const parkedCovered = parked.length > 0 && delayedMessages >= parked.length;
  const stuck = unfinished.filter((id) => !(parkedCovered && parked.includes(id)));

  const noRecord = acceptedIds.filter((id) => !items.has(id));
  const deadWithoutMessage = acceptedIds.filter((id) => items.get(id)?.state === 'DEAD_LETTER' && !dlq.byItem.has(id));
  const unmovable = pendingMessages === 0 ? unfinished : [];
  const lost = [...noRecord, ...deadWithoutMessage, ...unmovable];
  check(
    {
      name: 'lost',
      ok: lost.length === 0,
      observed: lost.length,
      limit: 0,
      detail:
        lost.length === 0
          ? `all ${acceptedIds.length} accepted items are PUBLISHED, DISCARDED, DEAD_LETTER with their message in a DLQ${parked.length > 0 ? ', or waiting for the budget with a delayed message' : ''}`
          : [
              noRecord.length > 0 ? `${noRecord.length} without a record (${listed(noRecord)})` : '',
              deadWithoutMessage.length > 0
                ? `${deadWithoutMessage.length} DEAD_LETTER without a DLQ message (${listed(deadWithoutMessage)})`
                : '',
              unmovable.length > 0
                ? `${unmovable.length} in a working state with no message left to move them (${listed(unmovable)})`
                : '',
              dlq.backstop.length > 0
                ? `${dlq.backstop.length} message(s) moved to a DLQ by maxReceiveCount: ${listed(dlq.backstop.map((m) => m.itemId ?? m.messageId))}`
                : '',
            ]
              .filter(Boolean)
              .join('; '),
    },
    lost,
  );
  check(
    {
      name: 'stuck',
      ok: stuck.length === 0,
      observed: stuck.length,
      limit: 0,
      detail:
        stuck.length === 0
          ? 'no item left in a working state'
          : `${stuck.length} item(s) not finished: ${listed(stuck.map((id) => `${id} (${items.get(id)?.state})`))}; ${pendingMessages} message(s) still in the ${stageQueues.join('/')} queues`,
    },
    stuck,
  );
  check({
    name: 'drained',
    ok: input.settled,
    observed: Math.round(input.elapsedMs / 100) / 10,
    limit: scenario.drainTimeoutSeconds,
    detail: input.settled
      ? `settled in ${(input.elapsedMs / 1000).toFixed(1)} s`
      : `still busy after the ${scenario.drainTimeoutSeconds} s drain timeout`,
  });

  // --- Publications: exactly one per item, repeats explained by crashes --------------------------------------
  const publicationsByItem = new Map<string, Set<string>>();
  const eventCounts = new Map<string, number>();
  for (const event of events.valid) {
    const ids = publicationsByItem.get(event.itemId) ?? new Set<string>();
    ids.add(event.publicationId);
    publicationsByItem.set(event.itemId, ids);
    eventCounts.set(event.publicationId, (eventCounts.get(event.publicationId) ?? 0) + 1);
  }
  const published = [...items.values()].filter((item) => item.state === 'PUBLISHED');
  const missingEvents = published.filter(
    (item) => item.publication === undefined || !eventCounts.has(item.publication.publicationId),
  );
  check(
    {
      name: 'missingEvents',
      ok: missingEvents.length === 0 && events.invalid.length === 0,
      observed: missingEvents.length + events.invalid.length,
      limit: 0,
      detail:
        missingEvents.length === 0 && events.invalid.length === 0
          ? `every one of ${published.length} PUBLISHED items has its event on the published queue`
          : [
              missingEvents.length > 0
                ? `${missingEvents.length} PUBLISHED item(s) without their event: ${listed(missingEvents.map((item) => item.itemId))}`
                : '',
              events.invalid.length > 0 ? `${events.invalid.length} event(s) not matching the schema` : '',
            ]
              .filter(Boolean)
              .join('; '),
    },
    missingEvents.map((item) => item.itemId),
  );
  // A redraft with history (re-enrichment) publishes the item again under its next generation: one publication
  // per generation is exactly once.
  const multiplyPublished = [...publicationsByItem]
    .filter(([itemId, ids]) => {
      const generations = [...ids].map((id) => /#g(\d+)#/.exec(id)?.[1] ?? '0');
      return new Set(generations).size < ids.size || ids.size > (items.get(itemId)?.generation ?? 0) + 1;
    })
    .map(([id]) => id);
  const notPublished = [...publicationsByItem.keys()].filter((id) => items.get(id)?.state !== 'PUBLISHED');
  const duplicated = [...new Set([...multiplyPublished, ...notPublished])];
  check(
    {
      name: 'duplicatedPublications',
      ok: duplicated.length === 0,
      observed: duplicated.length,
      limit: 0,
      detail:
        duplicated.length === 0
          ? `${publicationsByItem.size} item(s) published, each under one publicationId (per generation)`
          : [
              multiplyPublished.length > 0
                ? `published under several publicationIds: ${listed(multiplyPublished.map((id) => `${id} (${[...(publicationsByItem.get(id) ?? [])].join(', ')})`))}`
                : '',
              notPublished.length > 0
                ? `events for items that are not PUBLISHED: ${listed(notPublished.map((id) => `${id} (${items.get(id)?.state ?? 'no record'})`))}`
                : '',
            ]
              .filter(Boolean)
              .join('; '),
    },
    duplicated,
  );
  const repeated = [...eventCounts.values()].reduce((sum, n) => sum + n - 1, 0);
  const repeatAllowance = publisherCrashes['after-send'] + publisherCrashes.delete + input.pollerTimeouts;
  const repeatedIds = [...eventCounts].filter(([, n]) => n > 1).map(([id]) => id);
  check(
    {
      name: 'repeatedEvents',
      ok: repeated <= repeatAllowance,
      observed: repeated,
      limit: repeatAllowance,
      detail: `${repeated} repeated event(s) (same publicationId) against ${publisherCrashes['after-send']} crash(es) after the send and ${publisherCrashes.delete} lost delete(s) in the ${publisher.name} stage${input.pollerTimeouts > 0 ? ` and ${input.pollerTimeouts} abandoned invocation(s)` : ''}${repeatedIds.length > 0 ? `: ${listed(repeatedIds)}` : ''}`,
    },
    repeatedIds.map((id) => id.split('#')[0] ?? id),
  );

  // --- Nothing is paid twice; every paid call is counted --------------------------------------------------------
  const ledgerRebilled = calls.filter((call) => call.rebilled === true).length;
  const afterResponse = input.crashes.byPoint['after-llm-response'];
  const hidden: string[] = [];
  for (const item of published) {
    const crashed = input.crashes.forItem(item.itemId)['after-llm-response'];
    const rebilled = (callsByItem.get(item.itemId) ?? []).filter((call) => call.rebilled === true).length;
    if (rebilled < crashed) hidden.push(item.itemId);
  }
  const rebilledLimit = afterResponse + input.pollerTimeouts;
  check(
    {
      name: 'rebilledCalls',
      ok: hidden.length === 0 && ledgerRebilled <= rebilledLimit,
      observed: ledgerRebilled,
      limit: rebilledLimit,
      detail:
        `${ledgerRebilled} call(s) marked re-billed in the ledger (usage rows say ${sumOf(usage, (row) => row.rebilledCalls ?? 0)}) ` +
        `against ${afterResponse} crash(es) between a response and its ledger write` +
        (input.pollerTimeouts > 0 ? ` and ${input.pollerTimeouts} abandoned invocation(s)` : '') +
        (hidden.length > 0
          ? `; ${hidden.length} published item(s) repeated a crashed call without marking it re-billed: ${listed(hidden)}`
          : ''),
    },
    hidden,
  );
  const okPerStep = new Map<string, number>();
  for (const call of calls) {
    if (call.outcome !== 'ok') continue;
    const key = `${call.itemId} ${call.stage}/${call.step}`;
    okPerStep.set(key, (okPerStep.get(key) ?? 0) + 1);
  }
  const paidTwice = [...okPerStep].filter(([, n]) => n > 1).map(([key]) => key);
  check(
    {
      name: 'paidTwice',
      ok: paidTwice.length === 0,
      observed: paidTwice.length,
      limit: 0,
      detail:
        paidTwice.length === 0
          ? `every step answered validly was paid for once (${okPerStep.size} steps)`
          : `steps with more than one valid paid answer in the ledger: ${listed(paidTwice)}`,
    },
    paidTwice.map((key) => key.split(' ')[0] ?? key),
  );
  const served = (input.simulator?.requestsServed ?? calls.length) - (input.probeCallsAnswered ?? 0);
  const unrecorded = served - calls.length;
  check({
    name: 'unrecordedCalls',
    ok: unrecorded <= afterResponse,
    observed: unrecorded,
    limit: afterResponse,
    detail: `the provider answered ${served} call(s); the ledger holds ${calls.length}: the ${Math.max(0, unrecorded)} missing must be crash victims between the response and the ledger write`,
  });
  const usageCalls = sumOf(usage, (row) => row.calls);
  const usageTokens = sumOf(usage, (row) => row.promptTokens + row.completionTokens);
  const usageCost = sumOf(usage, (row) => row.costNanoUsd);
  const ledgerTokens = sumOf(calls, (call) => call.promptTokens + call.completionTokens);
  const ledgerCost = sumOf(calls, (call) => call.costNanoUsd);
  const usageOk = usageCalls === calls.length && usageTokens === ledgerTokens && usageCost === ledgerCost;
  const uncounted = usageOk ? [] : itemsMissingFromUsage(calls, usage);
  check(
    {
      name: 'usageMatchesLedger',
      ok: usageOk,
      observed: usageCalls,
      limit: calls.length,
      detail: usageOk
        ? `the day totals count every one of ${calls.length} ledger entries (${ledgerTokens} tokens, $${usd(ledgerCost)})`
        : `day totals: ${usageCalls} calls, ${usageTokens} tokens, $${usd(usageCost)}; ledger: ${calls.length} calls, ${ledgerTokens} tokens, $${usd(ledgerCost)}` +
          (uncounted.length > 0 ? `; totals short for stage/model ${uncounted.join(', ')}` : ''),
    },
    [],
  );

  // --- Limits hold ---------------------------------------------------------------------------------------------
  const stageConcurrency = pipeline.stages.map((stage) => stageConfigOf(config, stage.name).maxConcurrency);
  const semaphore = stageConcurrency.reduce((sum, count) => sum + count, 0);
  const maxConcurrent = input.simulator?.maxConcurrent ?? 0;
  check({
    name: 'maxConcurrentCalls',
    ok: maxConcurrent <= semaphore,
    observed: maxConcurrent,
    limit: semaphore,
    detail: `most LLM calls in flight at once at the provider, against the stages' maxConcurrency (${stageConcurrency.join(' + ')})`,
  });
  check(limitCheck('maxRpm', 'rpm', config, input.simulator?.maxRpmInAnyWindowByModel ?? {}));
  check(limitCheck('maxTpm', 'tpm', config, input.simulator?.maxTpmInAnyWindowByModel ?? {}));
  check(spendCheck(config, budgets, calls, usage));

  // --- Outages: calls stop until the breaker's probes find the provider back -----------------------------------
  check(providerOutageCheck(scenario, input));
  check(memoryOutageCheck(scenario, input));
  if (input.selfHealing !== undefined) {
    for (const result of selfHealingChecks({ ...input.selfHealing, scenario, timeline: input.timeline })) check(result);
  }
  if (scenario.expect.reenriched) {
    const left = [...items.values()]
      .filter((item) => item.state === 'PUBLISHED' && (item.degraded ?? []).includes(NO_HISTORY))
      .map((item) => item.itemId);
    const redrafted = [...items.values()].filter((item) => (item.generation ?? 0) > 0).length;
    check(
      {
        name: 'reenrichedWithHistory',
        ok: left.length === 0 && redrafted > 0,
        observed: left.length,
        limit: 0,
        detail:
          left.length === 0
            ? `${redrafted} item(s) drafted without history were redrafted with history; none is left without`
            : `${left.length} published item(s) still drafted without history: ${listed(left)}`,
      },
      left,
    );
  }

  // --- Dead letters: bad input costs nothing; waiting is not failing ----------------------------------------
  const deadLetters = [...items.values()].filter((item) => item.state === 'DEAD_LETTER');
  const poisonWrong = [...poisonIds].filter((id) => {
    const item = items.get(id);
    return (
      item?.state !== 'DEAD_LETTER' ||
      item.deadLetter?.errorClass !== 'InvalidItemError' ||
      item.deadLetter.stage !== pipeline.stages[0]?.name ||
      (callsByItem.get(id) ?? []).length > 0 ||
      item.usage !== undefined
    );
  });
  check(
    {
      name: 'poisonItems',
      ok: poisonWrong.length === 0,
      observed: poisonWrong.length,
      limit: 0,
      detail:
        poisonWrong.length === 0
          ? `all ${poisonIds.size} poison item(s) dead-lettered at ${pipeline.stages[0]?.name} as InvalidItemError without an LLM call`
          : `${poisonWrong.length} poison item(s) not dead-lettered as InvalidItemError with 0 tokens: ${listed(poisonWrong)}`,
    },
    poisonWrong,
  );
  const validRejected = deadLetters
    .filter((item) => !poisonIds.has(item.itemId) && item.deadLetter?.errorClass === 'InvalidItemError')
    .map((item) => item.itemId);
  check(
    {
      name: 'validItemsRejected',
      ok: validRejected.length === 0,
      observed: validRejected.length,
      limit: 0,
      detail:
        validRejected.length === 0
          ? 'no valid item was rejected as invalid'
          : `valid items dead-lettered as InvalidItemError: ${listed(validRejected)}`,
    },
    validRejected,
  );
  const byCause = (item: ItemRecord) => causeOf(item.deadLetter);
  const waitedOut = deadLetters.filter((item) => byCause(item) === 'waiting').map((item) => item.itemId);
  check(
    {
      name: 'waitingDeadLetters',
      ok: waitedOut.length === 0,
      observed: waitedOut.length,
      limit: 0,
      detail:
        waitedOut.length === 0
          ? 'no item dead-lettered for waiting (rate limit, 429, open breaker, budget, lease, deadline)'
          : `dead-lettered for waiting: ${listed(waitedOut.map((id) => `${id} (${describeDeadLetter(items.get(id))})`))}`,
    },
    waitedOut,
  );
  const transient = deadLetters.filter((item) => byCause(item) === 'transient').map((item) => item.itemId);
  check(
    {
      name: 'transientDeadLetters',
      ok: transient.length <= scenario.expect.transientDeadLetters,
      observed: transient.length,
      limit: scenario.expect.transientDeadLetters,
      detail:
        transient.length === 0
          ? `no item spent its ${config.maxAttempts} attempts on transient faults`
          : `dead-lettered after ${config.maxAttempts} attempts on transient faults: ${listed(transient.map((id) => `${id} (${describeDeadLetter(items.get(id))})`))}`,
    },
    transient,
  );
  const refusalsServed = Object.entries(input.simulator?.errorsServed ?? {})
    .filter(([status]) => isRefusal(Number(status)))
    .reduce((sum, [, count]) => sum + count, 0);
  const refused = deadLetters.filter((item) => isRefusal(statusOf(item.deadLetter))).map((item) => item.itemId);
  // A refusal whose item went on instead of being dead-lettered leaves its dead letter behind in the DLQ.
  const retriedRefusals = [...dlq.byItem]
    .filter(([id, messages]) => items.get(id)?.state !== 'DEAD_LETTER' && messages.some((m) => isRefusal(m.status)))
    .map(([id]) => id);
  const dlqSendCrashes = input.crashes.byPoint['after-dead-letter-send'];
  check(
    {
      name: 'refusalsNotRetried',
      ok: refusalsServed <= refused.length,
      observed: refusalsServed - refused.length,
      limit: 0,
      detail:
        `the provider refused ${refusalsServed} call(s) (4xx other than 408, 409, 425, 429); ${refused.length} item(s) were dead-lettered for it at once` +
        (refusalsServed > refused.length
          ? `: ${refusalsServed - refused.length} refused request(s) were tried again` +
            (retriedRefusals.length > 0
              ? `; items that went on after their refusal was sent to a DLQ: ${listed(retriedRefusals.map((id) => `${id} (${items.get(id)?.state})`))}`
              : '') +
            (dlqSendCrashes > 0
              ? ` (${dlqSendCrashes} crash(es) were injected between a DLQ send and the DEAD_LETTER write)`
              : '')
          : ''),
    },
    retriedRefusals,
  );
  const unrecordedErrors = deadLetters
    .filter(
      (item) =>
        item.deadLetter === undefined ||
        item.deadLetter.errorClass === '' ||
        item.deadLetter.message === '' ||
        !(item.deadLetter.attempts >= 1),
    )
    .map((item) => item.itemId);
  check(
    {
      name: 'deadLetterErrors',
      ok: unrecordedErrors.length === 0,
      observed: unrecordedErrors.length,
      limit: 0,
      detail:
        unrecordedErrors.length === 0
          ? `every one of ${deadLetters.length} dead letters records its error class, message, stage and attempts`
          : `dead letters without a complete error record: ${listed(unrecordedErrors)}`,
    },
    unrecordedErrors,
  );

  if (input.lateDuplicates !== undefined) {
    check(...deadLettersStayDeadCheck(input.lateDuplicates, items, callsByItem, dlq.byItem));
  }

  check(faultsInjectedCheck(scenario, input, parked.length));

  const byState: Record<ItemState, number> = Object.fromEntries(pipeline.states.map((state) => [state, 0]));
  const degraded: Record<string, number> = {};
  for (const item of items.values()) {
    byState[item.state] = (byState[item.state] ?? 0) + 1;
    for (const flag of item.degraded ?? []) degraded[flag] = (degraded[flag] ?? 0) + 1;
  }
  const deadLetterCounts: Record<string, number> = {};
  for (const item of deadLetters) {
    const key = `${item.deadLetter?.stage ?? 'unknown'} ${item.deadLetter?.errorClass ?? 'unknown'}`;
    deadLetterCounts[key] = (deadLetterCounts[key] ?? 0) + 1;
  }
  return {
    ok: checks.every((result) => result.ok),
    checks,
    evidence,
    counts: {
      messagesSent: input.messages.sent,
      duplicatesSent: input.messages.duplicates,
      accepted: acceptedIds.length,
      valid: acceptedIds.length - poisonIds.size,
      poison: poisonIds.size,
      byState,
      parked: parkedCovered ? parked.length : 0,
      degraded,
      deadLetters: deadLetterCounts,
      backstopDeadLetters: dlq.backstop.length,
      lateDuplicates: input.lateDuplicates?.sent ?? 0,
      events: { total: events.valid.length, distinctPublications: eventCounts.size, invalid: events.invalid.length },
      ledger: {
        entries: calls.length,
        rebilled: ledgerRebilled,
        invalidOutputs: calls.filter((call) => call.outcome === 'invalid-output').length,
      },
      usage: { calls: usageCalls, rebilledCalls: sumOf(usage, (row) => row.rebilledCalls ?? 0) },
      llm: summariseUsage(usage),
      budget: budgets.map((record) => ({
        day: record.day,
        committedUsd: record.committedNano / 1e9,
        spentUsd: record.spentNano / 1e9,
      })),
      breakerOpens,
      queues,
    },
  };
}

/**
 * Whether a dead letter was caused by waiting, by a transient fault, or deliberately (bad input, too big).
 * @example causeOf(item.deadLetter) // 'transient' for an LlmCallError after a 503
 */
export function causeOf(error: ItemRecord['deadLetter']): 'waiting' | 'transient' | 'deliberate' {
  if (error === undefined) return 'transient';
  if (WAITING_CLASSES.has(error.errorClass)) return 'waiting';
  if (DELIBERATE_CLASSES.has(error.errorClass)) return 'deliberate';
  const status = statusOf(error);
  if (status === 429) return 'waiting';
  // A request the provider refuses (400, 401, 403, 404, 422) is never retried, by design.
  if (isRefusal(status)) return 'deliberate';
  return 'transient';
}

/** The provider's HTTP status behind an LLM call error, when the error record names one. */
function statusOf(error: ItemRecord['deadLetter']): number | undefined {
  if (error?.errorClass !== 'LlmCallError') return undefined;
  const status = /answered (\d{3})/.exec(error.message)?.[1];
  return status === undefined ? undefined : Number(status);
}

/** A 4xx that says the request itself is wrong: retrying cannot help. */
function isRefusal(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
}

function limitCheck(
  name: string,
  kind: 'rpm' | 'tpm',
  config: SluiceConfig,
  observedByModel: Readonly<Record<string, number>>,
): CheckResult {
  const limited = Object.entries(config.limits).filter(([, limits]) => limits[kind] !== undefined);
  if (limited.length === 0) {
    const most = Math.max(0, ...Object.values(observedByModel));
    return { name, ok: true, observed: most, limit: null, detail: `no ${kind} limit configured` };
  }
  const rows = limited.map(([model, limits]) => {
    const limit = limits[kind] ?? 0;
    const observed = observedByModel[model] ?? 0;
    return { model, limit, observed, ratio: observed / limit };
  });
  const worst = rows.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  return {
    name,
    ok: rows.every((row) => row.observed <= row.limit),
    observed: worst.observed,
    limit: worst.limit,
    detail: `most ${kind === 'rpm' ? 'requests' : 'tokens'} the provider admitted in any 60-second window: ${rows.map((row) => `${row.model} ${row.observed}/${row.limit}`).join(', ')}`,
  };
}

function spendCheck(
  config: SluiceConfig,
  budgets: readonly { day: string; committedNano: number; spentNano: number }[],
  calls: readonly CallEntry[],
  usage: readonly UsageRow[],
): CheckResult {
  const limitNano = Math.round(config.dailyBudgetUsd * 1e9);
  const days = new Set([
    ...budgets.map((record) => record.day),
    ...calls.map((call) => call.at.slice(0, 10)),
    ...usage.map((row) => row.day),
  ]);
  let worst = { day: '', nano: 0 };
  const lines: string[] = [];
  let ok = true;
  for (const day of [...days].sort()) {
    const budget = budgets.find((record) => record.day === day);
    const ledger = sumOf(
      calls.filter((call) => call.at.startsWith(day)),
      (call) => call.costNanoUsd,
    );
    const totals = sumOf(
      usage.filter((row) => row.day === day),
      (row) => row.costNanoUsd,
    );
    const most = Math.max(ledger, totals, budget?.spentNano ?? 0, budget?.committedNano ?? 0);
    if (most > limitNano) ok = false;
    if (most >= worst.nano) worst = { day, nano: most };
    lines.push(
      `${day}: ledger $${usd(ledger)}, day totals $${usd(totals)}, budget record spent $${usd(budget?.spentNano ?? 0)} committed $${usd(budget?.committedNano ?? 0)}`,
    );
  }
  return {
    name: 'spend',
    ok,
    observed: Number(usd(worst.nano)),
    limit: config.dailyBudgetUsd,
    detail: lines.length > 0 ? lines.join('; ') : 'nothing spent',
  };
}

/** Per model: the stages that call it (their summed concurrency). */
function modelConcurrency(config: SluiceConfig, pipeline: Pipeline): Map<string, number> {
  const byModel = new Map<string, number>();
  for (const stage of pipeline.stages) {
    const settings = stageConfigOf(config, stage.name);
    const models = new Set([...stageModelsOf(settings), config.llm.fallbackModel]);
    for (const model of models) {
      if (model !== undefined) byModel.set(model, (byModel.get(model) ?? 0) + settings.maxConcurrency);
    }
  }
  return byModel;
}

/**
 * Calls that may reach a provider that is down: per model, the failures that open its breaker, the callers that
 * were already past the breaker when it opened, and one probe per cooldown.
 */
function providerOutageCheck(scenario: Scenario, input: CheckerInput): CheckResult {
  const config = scenario.pipeline;
  const observed = input.simulator?.callsDuringOutage ?? 0;
  const durations = [
    ...input.timeline.providerOutages.map((outage) => outage.endMs - outage.startMs),
    ...(scenario.simulator.faults.outages ?? []).map((window) => window.endMs - window.startMs),
  ];
  if (durations.length === 0) {
    return {
      name: 'callsDuringOutages',
      ok: observed === 0,
      observed,
      limit: 0,
      detail: 'no provider outage in this scenario',
    };
  }
  const cooldownMs = config.breaker.cooldownSeconds * 1000;
  let allowed = 0;
  for (const durationMs of durations) {
    for (const concurrency of modelConcurrency(config, input.pipeline).values()) {
      allowed += failuresToOpen(config) + concurrency + Math.ceil(durationMs / cooldownMs) + 1;
    }
  }
  return {
    name: 'callsDuringOutages',
    ok: observed <= allowed,
    observed,
    limit: allowed,
    detail: `${durations.length} outage(s) of ${durations.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')}: per model, up to ${failuresToOpen(config)} failures to open the breaker, the callers already past it, and one probe per ${config.breaker.cooldownSeconds} s cooldown`,
  };
}

function memoryOutageCheck(scenario: Scenario, input: CheckerInput): CheckResult {
  const config = scenario.pipeline;
  const { memory } = input.timeline;
  if (memory.windows.length === 0) {
    return {
      name: 'memoryCallsDuringOutages',
      ok: true,
      observed: memory.lookupsDuringOutage,
      limit: null,
      detail: 'no memory outage in this scenario',
    };
  }
  const cooldownMs = config.breaker.cooldownSeconds * 1000;
  const rememberingConcurrency = input.pipeline.stages
    .filter((stage) => stage.usesMemory)
    .reduce((sum, stage) => sum + stageConfigOf(config, stage.name).maxConcurrency, 0);
  const allowed = memory.windows.reduce(
    (sum, window) =>
      sum +
      failuresToOpen(config) +
      rememberingConcurrency +
      Math.ceil((window.endMs - window.startMs) / cooldownMs) +
      1,
    0,
  );
  return {
    name: 'memoryCallsDuringOutages',
    ok: memory.lookupsDuringOutage <= allowed,
    observed: memory.lookupsDuringOutage,
    limit: allowed,
    detail: `memory lookups while the memory store was down (${memory.lookups} in all); the memory breaker should stop them after ${failuresToOpen(config)} failures`,
  };
}

/**
 * Most failures a breaker takes to open: failures in a row at low traffic, or up to `minCalls` recent calls once
 * the window holds that many (they must be mostly failures).
 */
function failuresToOpen(config: Scenario['pipeline']): number {
  return Math.max(config.breaker.failureThreshold, config.breaker.minCalls);
}

/** A chaos run whose faults never fired proves nothing: every fault the scenario asks for must have happened. */
function faultsInjectedCheck(scenario: Scenario, input: CheckerInput, parked: number): CheckResult {
  const expected: { fault: string; fired: number }[] = [];
  for (const [point, probability] of Object.entries(scenario.crashes)) {
    if (
      point === 'maxPerItem' ||
      typeof probability !== 'number' ||
      probability <= 0 ||
      scenario.crashes.maxPerItem === 0
    )
      continue;
    expected.push({ fault: `crash ${point}`, fired: input.crashes.byPoint[point as keyof CrashCounts] ?? 0 });
  }
  const faults = scenario.simulator.faults;
  const sim = input.simulator;
  for (const [status, rate] of Object.entries(faults.errorRates ?? {})) {
    if (rate > 0) expected.push({ fault: `provider ${status}`, fired: sim?.errorsServed[status] ?? 0 });
  }
  if ((faults.hangRate ?? 0) > 0) expected.push({ fault: 'provider hangs', fired: sim?.hung ?? 0 });
  if ((faults.malformedRate ?? 0) > 0) expected.push({ fault: 'malformed output', fired: sim?.malformed ?? 0 });
  if (scenario.providerOutages.length > 0 || (faults.outages ?? []).length > 0) {
    expected.push({ fault: 'provider outage', fired: sim?.callsDuringOutage ?? 0 });
  }
  if (scenario.memoryOutages.length > 0) {
    expected.push({ fault: 'memory outage', fired: input.timeline.memory.lookupsDuringOutage });
  }
  if (scenario.limitChanges.length > 0) {
    expected.push({ fault: 'limit change', fired: input.timeline.limitChanges.length });
  }
  if (scenario.items.poison > 0) expected.push({ fault: 'poison items', fired: input.accepted.poisonItemIds.length });
  if (scenario.items.duplicates > 0) expected.push({ fault: 'duplicate messages', fired: input.messages.duplicates });
  if (scenario.expect.budgetExhausted) expected.push({ fault: 'budget exhausted', fired: parked });
  const missing = expected.filter((entry) => entry.fired === 0);
  return {
    name: 'faultsInjected',
    ok: missing.length === 0,
    observed: expected.length - missing.length,
    limit: expected.length,
    detail:
      expected.length === 0
        ? 'this scenario injects no faults'
        : `${expected.map((entry) => `${entry.fault} ${entry.fired}`).join(', ')}${missing.length > 0 ? `; never fired: ${missing.map((entry) => entry.fault).join(', ')}` : ''}`,
  };
}

interface DeadLetterMessage {
  messageId: string;
  itemId: string | undefined;
  /** The dead-letter id the handler put on it (absent on messages the queue's redrive moved). */
  deadLetterId: string | undefined;
  queue: string;
  /** The provider's status named by the error the message carries, if any. */
  status: number | undefined;
}

/** Every DLQ message by item; messages without an `itemId` attribute were moved by the queue's redrive. */
async function readDeadLetterQueues(
  sqs: SQSClient,
  outputs: Readonly<Record<string, string>>,
  queues: ReturnType<typeof queuesOf>,
): Promise<{ byItem: Map<string, DeadLetterMessage[]>; backstop: DeadLetterMessage[] }> {
  const byItem = new Map<string, DeadLetterMessage[]>();
  const backstop: DeadLetterMessage[] = [];
  for (const key of queues.filter((queue) => queue.dlq).map((queue) => queue.outputKey)) {
    const url = outputs[key];
    if (url === undefined) continue;
    for (const message of await peekAll(sqs, url)) {
      const attributed = message.MessageAttributes?.itemId?.StringValue;
      const entry = {
        messageId: message.MessageId ?? '',
        itemId: attributed ?? itemIdInBody(message),
        deadLetterId: message.MessageAttributes?.deadLetterId?.StringValue,
        queue: key,
        status: statusOf({
          errorClass: message.MessageAttributes?.errorClass?.StringValue ?? '',
          message: message.MessageAttributes?.errorMessage?.StringValue ?? '',
          stage: 'extract',
          attempts: 0,
          at: '',
        }),
      };
      if (attributed === undefined) {
        backstop.push(entry);
        continue;
      }
      byItem.set(attributed, [...(byItem.get(attributed) ?? []), entry]);
    }
  }
  return { byItem, backstop };
}

/**
 * Dead letters are final except through a redrive: every item dead-lettered before the late duplicates arrived is
 * still DEAD_LETTER, unchanged (same version, same dead-letter id), with a DLQ message carrying that id, and
 * neither its ledger nor the provider saw another call.
 */
function deadLettersStayDeadCheck(
  late: LateDuplicates,
  items: ReadonlyMap<string, ItemRecord>,
  callsByItem: ReadonlyMap<string, CallEntry[]>,
  dlqByItem: ReadonlyMap<string, DeadLetterMessage[]>,
): [CheckResult, string[]] {
  const problems: string[] = [];
  const involved: string[] = [];
  for (const before of late.items) {
    const item = items.get(before.itemId);
    const wrong = [
      item?.state !== 'DEAD_LETTER' ? `now ${item?.state ?? 'without a record'}` : '',
      item !== undefined && item.version !== before.version ? `version ${before.version} → ${item.version}` : '',
      item?.deadLetter?.deadLetterId !== before.deadLetterId ? 'its dead-letter id changed' : '',
      before.deadLetterId === undefined ? 'its dead letter has no id' : '',
      !(dlqByItem.get(before.itemId) ?? []).some((message) => message.deadLetterId === before.deadLetterId)
        ? 'no DLQ message carries its dead-letter id'
        : '',
      (callsByItem.get(before.itemId) ?? []).length !== before.ledgerEntries
        ? `ledger ${before.ledgerEntries} → ${(callsByItem.get(before.itemId) ?? []).length} call(s)`
        : '',
    ].filter(Boolean);
    if (wrong.length > 0) {
      involved.push(before.itemId);
      problems.push(`${before.itemId} (${wrong.join(', ')})`);
    }
  }
  const extraCalls = late.stageCallsAfter - late.stageCallsBefore;
  const ok = late.items.length > 0 && problems.length === 0 && extraCalls === 0;
  return [
    {
      name: 'deadLettersStayDead',
      ok,
      observed: problems.length + extraCalls,
      limit: 0,
      detail:
        late.items.length === 0
          ? 'no item was dead-lettered before the late duplicates: the scenario proves nothing'
          : `${late.sent} late duplicate(s) of ${late.items.length} dead-lettered item(s): ` +
            (ok
              ? 'every item is still DEAD_LETTER, unchanged, its dead letter in a DLQ, no call made'
              : [
                  problems.length > 0 ? `moved or changed: ${listed(problems)}` : '',
                  extraCalls !== 0 ? `${extraCalls} provider call(s) after they were sent` : '',
                ]
                  .filter(Boolean)
                  .join('; ')),
    },
    involved,
  ];
}

const bodyWithIdSchema = z.union([
  z.object({ itemId: z.string() }).transform((body) => body.itemId),
  z.object({ id: z.string() }).transform((body) => body.id),
]);

function itemIdInBody(message: Message): string | undefined {
  try {
    const parsed = bodyWithIdSchema.safeParse(JSON.parse(message.Body ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function readEvents(sqs: SQSClient, outputs: Readonly<Record<string, string>>) {
  const valid: z.infer<typeof publishedEventSchema>[] = [];
  const invalid: string[] = [];
  const url = outputs[queueOutputKeys(PUBLISHED_QUEUE_KEY).url];
  if (url === undefined) return { valid, invalid };
  for (const message of await peekAll(sqs, url)) {
    let raw: unknown;
    try {
      raw = JSON.parse(message.Body ?? '');
    } catch {
      invalid.push(message.MessageId ?? '');
      continue;
    }
    const parsed = publishedEventSchema.safeParse(raw);
    if (parsed.success) valid.push(parsed.data);
    else invalid.push(message.MessageId ?? '');
  }
  return { valid, invalid };
}

/** Stage/model pairs whose day totals count fewer calls than their ledger entries. */
function itemsMissingFromUsage(calls: readonly CallEntry[], usage: readonly UsageRow[]): string[] {
  const ledger = new Map<string, number>();
  for (const call of calls) {
    const key = `${call.stage}/${call.model}`;
    ledger.set(key, (ledger.get(key) ?? 0) + 1);
  }
  const totals = new Map<string, number>();
  for (const row of usage) {
    const key = `${row.stage}/${row.model}`;
    totals.set(key, (totals.get(key) ?? 0) + row.calls);
  }
  return [...ledger]
    .filter(([key, count]) => (totals.get(key) ?? 0) !== count)
    .map(([key, count]) => `${key} (${totals.get(key) ?? 0} of ${count})`);
}

function describeDeadLetter(item: ItemRecord | undefined): string {
  const error = item?.deadLetter;
  if (error === undefined) return 'no error recorded';
  return `${error.stage} ${error.errorClass} after ${error.attempts} attempt(s): ${error.message.split('\n')[0]?.slice(0, 160)}`;
}

function listed(ids: readonly string[]): string {
  const shown = ids.slice(0, EVIDENCE_LIMIT).join(', ');
  return ids.length > EVIDENCE_LIMIT ? `${shown}, ... (${ids.length - EVIDENCE_LIMIT} more)` : shown;
}

function usd(nano: number): string {
  return (nano / 1e9).toFixed(6);
}

function sumOf<T>(values: readonly T[], of: (value: T) => number): number {
  return values.reduce((sum, value) => sum + (Number(of(value)) || 0), 0);
}

function groupBy<T>(values: readonly T[], key: (value: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const value of values) {
    const k = key(value);
    const group = groups.get(k);
    if (group) group.push(value);
    else groups.set(k, [value]);
  }
  return groups;
}
