import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { queueOutputKeys } from '#lib/outputs.ts';
import { isQueueMissing, queueDepth } from '#ops/queue-io.ts';
import { countItemsByState } from '#ops/table-reads.ts';
import { nanoToUsd } from '#shared/call-ledger.ts';
import {
  countIn,
  DEAD_LETTER,
  DISCARDED,
  type Pipeline,
  PUBLISHED,
  PUBLISHED_LANE,
  queueKeyOf,
  RECEIVED,
  type StateCounts,
} from '#shared/pipeline.ts';
import { usagePartition } from '#shared/table-keys.ts';
import type { MetricsSummary } from './local-metrics.ts';

/**
 * A live view of a running pipeline, read from the state table's ByState index and the queues: a progress
 * bar on a terminal (redrawn in place), one plain line per change elsewhere (CI logs, pipes).
 */

export interface PipelineSnapshot {
  /** The stages the counts are of. */
  pipeline: Pipeline;
  byState: StateCounts;
  /** Messages in each lane's queue (visible, in flight or delayed), by lane (`extract`, …, `published`); a missing queue counts 0. */
  queues: Readonly<Record<string, number>>;
  /** Messages in all the dead-letter queues together. */
  deadLetters: number;
  /** Queues of the stack that do not exist (deleted through the SQS API), by output key, e.g. `IntakeQueueUrl`. */
  missingQueues: string[];
  llm: { calls: number; tokens: number; costUsd: number };
}

/** What the progress view calls a lane's queue: `intake`, `draft`, `published`. */
function queueLabel(pipeline: Pipeline, lane: string): string {
  return queueKeyOf(pipeline, lane).toLowerCase();
}

/**
 * The queue outputs the progress view reads (each lane's queue and dead-letter queue), with the names it shows
 * them by, e.g. `IntakeQueueUrl` → `intake queue`.
 */
export function queueLabelsOf(pipeline: Pipeline): Readonly<Record<string, string>> {
  return Object.fromEntries(
    pipeline.lanes.flatMap((lane) => {
      const keys = queueOutputKeys(queueKeyOf(pipeline, lane));
      const label = queueLabel(pipeline, lane);
      return [
        [keys.url, `${label} queue`],
        [keys.deadLetterUrl, `${label} DLQ`],
      ];
    }),
  );
}

export interface ProgressSources {
  pipeline: Pipeline;
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  outputs: Readonly<Record<string, string>>;
}

/** @example const snapshot = await readSnapshot({ pipeline, sqs, dynamo, outputs }); */
export async function readSnapshot({ pipeline, sqs, dynamo, outputs }: ProgressSources): Promise<PipelineSnapshot> {
  const table = outputs.StateTableName ?? '';
  const byState = await countItemsByState(dynamo, table, pipeline.states);
  const missingQueues: string[] = [];
  // A queue deleted under a running pipeline is reported, not fatal: the view goes on with the others.
  const depth = async (key: string) => {
    const url = outputs[key];
    if (url === undefined) return 0;
    try {
      const d = await queueDepth(sqs, url);
      return d.visible + d.inFlight + d.delayed;
    } catch (error) {
      if (!isQueueMissing(error)) throw error;
      missingQueues.push(key);
      return 0;
    }
  };
  const usage = await dynamo.send(
    new QueryCommand({
      TableName: table,
      KeyConditionExpression: 'pk = :pk',
      ExpressionAttributeValues: { ':pk': usagePartition(new Date().toISOString().slice(0, 10)) },
    }),
  );
  let calls = 0;
  let tokens = 0;
  let cost = 0;
  for (const row of usage.Items ?? []) {
    calls += Number(row.calls ?? 0);
    tokens += Number(row.promptTokens ?? 0) + Number(row.completionTokens ?? 0);
    cost += Number(row.costNanoUsd ?? 0);
  }
  const queues: Record<string, number> = {};
  let deadLetters = 0;
  for (const lane of pipeline.lanes) {
    const keys = queueOutputKeys(queueKeyOf(pipeline, lane));
    queues[lane] = await depth(keys.url);
    deadLetters += await depth(keys.deadLetterUrl);
  }
  return {
    pipeline,
    byState,
    queues,
    deadLetters,
    missingQueues,
    llm: { calls, tokens, costUsd: nanoToUsd(cost) },
  };
}

const BAR_WIDTH = 30;

/** Items in a final state: published, dead-lettered, or discarded by an operator. */
function settledCount(snapshot: PipelineSnapshot): number {
  return countIn(snapshot.byState, snapshot.pipeline.terminalStates);
}

/** The states an item is in between intake and a final state. */
function unsettledStates(pipeline: Pipeline): string[] {
  return pipeline.states.filter((state) => !pipeline.terminalStates.includes(state));
}

/** Messages waiting for or worked on by a stage (the published queue is the pipeline's output, not its work). */
export function queuedForStages(snapshot: PipelineSnapshot): number {
  return snapshot.pipeline.lanes
    .filter((lane) => lane !== PUBLISHED_LANE)
    .reduce((sum, lane) => sum + (snapshot.queues[lane] ?? 0), 0);
}

/** The snapshot as display lines; `total` is how many items the run expects (0 when open-ended). */
export function renderSnapshot(
  snapshot: PipelineSnapshot,
  total: number,
  elapsedMs: number,
  metrics?: MetricsSummary,
): string[] {
  const { pipeline } = snapshot;
  const count = (state: string) => snapshot.byState[state] ?? 0;
  const done = settledCount(snapshot);
  const unsettled = unsettledStates(pipeline);
  const working = countIn(snapshot.byState, unsettled);
  const stages = unsettled
    .filter((state) => state !== RECEIVED)
    .map((state) => `${state.toLowerCase()} ${count(state)}`)
    .join(', ');
  const discarded = count(DISCARDED);
  const share = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(share * BAR_WIDTH);
  const bar = total > 0 ? `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total}` : `${done} done`;
  return [
    `${bar}  ${(elapsedMs / 1000).toFixed(1)}s`,
    `  items   published ${count(PUBLISHED)}  dead-lettered ${count(DEAD_LETTER)}  ` +
      (discarded > 0 ? `discarded ${discarded}  ` : '') +
      `in progress ${working} (${stages})`,
    `  queues  ${pipeline.lanes.map((lane) => `${queueLabel(pipeline, lane)} ${snapshot.queues[lane] ?? 0}`).join('  ')}  ` +
      `dead letters ${snapshot.deadLetters}` +
      (snapshot.missingQueues.length === 0
        ? ''
        : `  MISSING ${snapshot.missingQueues.map((key) => queueLabelsOf(pipeline)[key] ?? key).join(', ')}`),
    `  llm     ${snapshot.llm.calls} calls  ${snapshot.llm.tokens} tokens  $${snapshot.llm.costUsd.toFixed(4)}`,
    ...(metrics === undefined
      ? []
      : [
          `  waits   ${metrics.retries} retries  ${metrics.deferrals} deferrals  ${metrics.llm.rateLimited} 429s  ` +
            `${metrics.llm.limiterWaits} limiter waits  ${metrics.breakers.opened} breaker opens  ` +
            `${metrics.llm.rebilled} re-billed  degraded ${metrics.items.degraded}`,
        ]),
  ];
}

/**
 * Says when the pipeline has become idle: every item settled (published, dead-lettered or discarded), none in a working state,
 * no message left in the intake or draft queue. Once per transition: the next line comes only after new work.
 * @example const line = notice.observe(snapshot); if (line) view.note(line);
 */
export class IdleNotice {
  /** How many items were settled when the pipeline was last seen idle; undefined while it is busy. */
  #settledWhenIdle: number | undefined;

  /** The line to print when `snapshot` is the first idle one after work (or the first one), else undefined. */
  observe(snapshot: PipelineSnapshot): string | undefined {
    const count = (state: string) => snapshot.byState[state] ?? 0;
    const working = countIn(snapshot.byState, unsettledStates(snapshot.pipeline));
    const settled = settledCount(snapshot);
    if (working > 0 || queuedForStages(snapshot) > 0) {
      this.#settledWhenIdle = undefined;
      return undefined;
    }
    // More items settled since the last idle view means there was work in between, even one that went through
    // the whole pipeline between two refreshes.
    if (this.#settledWhenIdle === settled) return undefined;
    this.#settledWhenIdle = settled;
    // A stack started with no items is waiting from the start; there is nothing settled to tell about.
    if (settled === 0) return undefined;
    return (
      `idle: all ${settled} item${settled === 1 ? '' : 's'} settled (${count(PUBLISHED)} published, ` +
      `${count(DEAD_LETTER)} dead-lettered${count(DISCARDED) > 0 ? `, ${count(DISCARDED)} discarded` : ''}); waiting for new items`
    );
  }
}

/** Draws snapshots in place on a terminal, or prints a line when something changed elsewhere. */
export class ProgressView {
  readonly #out: NodeJS.WriteStream;
  readonly #interactive: boolean;
  #drawn = 0;
  #last = '';

  constructor(out: NodeJS.WriteStream = process.stdout) {
    this.#out = out;
    this.#interactive = out.isTTY === true && process.env.CI === undefined;
  }

  /**
   * Prints a line that stays (an event, not a state): above the redrawn block on a terminal, which is drawn again
   * below it at the next `show`.
   */
  note(line: string): void {
    if (this.#interactive && this.#drawn > 0) {
      this.#out.write(`\x1b[${this.#drawn}A\x1b[0J`);
      this.#drawn = 0;
    }
    this.#out.write(`${line}\n`);
    // Elsewhere the next snapshot is printed again, so the state after the event follows it.
    this.#last = '';
  }

  show(lines: string[]): void {
    if (this.#interactive) {
      const up = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : '';
      this.#out.write(`${up}${lines.map((line) => `\x1b[2K${line}`).join('\n')}\n`);
      this.#drawn = lines.length;
      return;
    }
    // Elsewhere, print only changes (ignoring the clock) so logs stay short.
    const key = lines.slice(1).join('|') + (lines[0]?.replace(/\s+\S+s$/, '') ?? '');
    if (key === this.#last) return;
    this.#last = key;
    this.#out.write(`${lines.join('\n')}\n`);
  }
}
