import { parseArgs } from 'node:util';
import { ProgressView } from '#local/progress.ts';
import type { EventSourceStatus } from '#ops/stage-switch.ts';
import { readStatus, type StatusSnapshot } from '#ops/status-snapshot.ts';
import type { Target, TargetRequest } from '#ops/target.ts';
import { TARGET_HELP, TARGET_OPTIONS } from '#ops/target.ts';
import { noPositionals, parsePositiveNumber } from './arguments.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printJson,
  runOperatorCommand,
  targetRequestOf,
  writeLines,
} from './operator-command.ts';
import { describeControl } from './pause.ts';
import {
  type Align,
  formatCount,
  formatDuration,
  formatUsd,
  oneLine,
  renderTable,
  terminalSafe,
} from './text-table.ts';
import { EXIT } from './usage-error.ts';

export const STATUS_HELP = `Usage: sluice status [options]

Shows the pipeline at a glance: items per state (from the state table's ByState index), each queue's and DLQ's
depth and the age of its oldest message (CloudWatch's ApproximateAgeOfOldestMessage on AWS; locally, DLQs only,
from their messages' SentTimestamp, with the distinct items their messages belong to: two copies of one item's
dead letter count once), each stage's event source (running or paused, its maximum concurrency, who
paused it, when and why, and the supervisor's last action on it), the circuit breakers, the rate limiters, today's tokens and dollars by stage and
model against the daily budget, and the stack's alarms in ALARM (AWS only).

Options:
  --watch              Refresh until Ctrl-C: redrawn in place on a terminal, a new block when it changes
                       elsewhere (with --json, one JSON document per line and refresh).
  --interval SECONDS   Time between refreshes with --watch, 0.1 to 3600 (default 2).
${TARGET_HELP}
Examples:
  sluice status
  sluice status --watch --interval 5
  sluice status --stack Sluice --region eu-west-1 --json | jq '.items.byState'
`;

/** Shortest --watch interval: a refresh reads every queue and the table, so faster only loads the stack. */
const MIN_INTERVAL_SECONDS = 0.1;

interface StatusOptions {
  watch: boolean;
  intervalMs: number;
  json: boolean;
  target: TargetRequest;
}

function parseStatusArgs(args: string[]): StatusOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      watch: { type: 'boolean', default: false },
      interval: { type: 'string', default: '2' },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  return {
    watch: values.watch,
    intervalMs: parsePositiveNumber('--interval', values.interval, 3600, MIN_INTERVAL_SECONDS) * 1000,
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice status`: returns the process exit code.
 * @example process.exitCode = await runStatus(['--help']);
 */
export async function runStatus(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseStatusArgs(args);
  return runOperatorCommand(
    'status',
    STATUS_HELP,
    options,
    async (target, options) => {
      if (!options.watch) {
        const snapshot = await readStatus(target, { now: Date.now() });
        if (options.json) printJson(snapshot, io);
        else writeLines(io.out, renderStatus(snapshot));
        return EXIT.ok;
      }
      await watchStatus(target, options, io);
      return EXIT.ok;
    },
    io,
  );
}

async function watchStatus(target: Target, options: StatusOptions, io: CommandIo): Promise<void> {
  const out = io.out as NodeJS.WriteStream;
  const view = new ProgressView(out);
  const interactive = out.isTTY === true && process.env.CI === undefined;
  let last = '';
  let stop = false;
  let wake: (() => void) | undefined;
  const onSignal = () => {
    stop = true;
    wake?.();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let height = 0;
  try {
    while (!stop) {
      const snapshot = await readStatus(target, { now: Date.now() });
      if (options.json) {
        io.out.write(`${JSON.stringify(snapshot)}\n`);
      } else {
        const lines = renderStatus(snapshot).map((line) => terminalSafe(line));
        if (interactive) {
          // A shorter frame than the last must still cover the lines the last one drew.
          height = Math.max(height, lines.length);
          view.show([...lines, ...Array.from({ length: height - lines.length }, () => '')]);
        } else {
          // Off a terminal, a new block only when something besides the clock changed.
          const key = lines.slice(1).join('\n');
          if (key !== last) io.out.write(`${lines.join('\n')}\n\n`);
          last = key;
        }
      }
      if (stop) break;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.intervalMs);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** What an operator reads from a mapping's State. */
const STATE_WORDS: Record<string, string> = {
  Enabled: 'running',
  Enabling: 'resuming',
  Disabled: 'PAUSED',
  Disabling: 'PAUSING (invocations in flight finishing)',
  Updating: 'updating',
};

/** e.g. `extract  PAUSED (Disabled), max concurrency 5; paused by operator at 2026-11-21 08:55:12Z: outage`. */
function describeEventSource(source: EventSourceStatus): string {
  const stage = source.stage.padEnd(8);
  const control = source.control === null ? '' : `; ${describeControl(source.control)}`;
  if (source.state === null) return `${stage} event source unknown (${source.note ?? 'not read'})${control}`;
  const word = STATE_WORDS[source.state] ?? source.state;
  const concurrency =
    source.maxConcurrency === null ? 'no maximum concurrency' : `max concurrency ${source.maxConcurrency}`;
  const action = source.supervisor?.lastAction;
  const supervised =
    action === undefined || action === null
      ? ''
      : `; supervisor ${action.action} at ${action.at.slice(0, 19).replace('T', ' ')}Z: ${action.detail}`;
  return `${stage} ${word} (${source.state}), ${concurrency}${control}${supervised}`;
}

/** Lines under a label in the left margin, e.g. `queues   intake  0 ...`. */
function labelled(label: string, lines: readonly string[]): string[] {
  return lines.map((line, index) => `${(index === 0 ? label : '').padEnd(MARGIN)}${line}`);
}

const MARGIN = 9;

/** The snapshot as text lines; the first carries the clock. */
function renderStatus(snapshot: StatusSnapshot): string[] {
  const s = snapshot.items.byState;
  const lines = [`${snapshot.stack} (${snapshot.target}, ${snapshot.source})  at ${snapshot.at.slice(11, 19)}Z`, ''];
  lines.push(
    ...labelled('items', [
      `${Object.entries(s)
        .map(([state, count]) => `${state} ${formatCount(count)}`)
        .join('  ')}  (total ${formatCount(snapshot.items.total)})`,
    ]),
    '',
  );
  const queueRows = snapshot.queues.map((queue) => [
    queue.queue,
    formatCount(queue.visible),
    formatCount(queue.inFlight),
    formatCount(queue.delayed),
    queue.oldestAgeSeconds === null ? (queue.oldestAgeNote ?? 'n/a') : formatDuration(queue.oldestAgeSeconds * 1000),
    queue.items === undefined ? '' : formatCount(queue.items),
  ]);
  const queueAlign: Align[] = ['left', 'right', 'right', 'right', 'left', 'right'];
  lines.push(
    ...labelled(
      'queues',
      renderTable(['queue', 'visible', 'in flight', 'delayed', 'oldest', 'items'], queueRows, queueAlign),
    ),
    '',
  );
  lines.push(...labelled('stages', snapshot.eventSources.map(describeEventSource)), '');

  const breakers = snapshot.breakers.map((breaker) => {
    const open = breaker.openUntil === undefined ? '' : `, probe after ${breaker.openUntil.slice(11, 19)}Z`;
    return (
      `${breaker.dependency.padEnd(16)} ${breaker.state.toUpperCase()}` +
      ` (${breaker.failures} failure(s) in a row, opened ${breaker.opens} time(s)${open})`
    );
  });
  lines.push(...labelled('breakers', breakers.length > 0 ? breakers : ['none has failed yet (all closed)']));
  const limiters = snapshot.limiters.map((limiter) => {
    const limits = [limiter.rpm && `${limiter.rpm} rpm`, limiter.tpm && `${limiter.tpm} tpm`]
      .filter(Boolean)
      .join(', ');
    const held = limiter.heldUntil === undefined ? '' : `; HELD by a 429 until ${limiter.heldUntil.slice(11, 19)}Z`;
    return (
      `${limiter.model.padEnd(16)} ${limits || 'limits unknown here'}; requests ${formatDuration(limiter.requestsAheadMs)}` +
      ` ahead, tokens ${formatDuration(limiter.tokensAheadMs)} ahead${held}`
    );
  });
  lines.push(
    ...labelled('limiters', limiters.length > 0 ? limiters : ['no limiter records (no model has limits set)']),
    '',
  );

  const today = snapshot.today;
  const budget = today.budget;
  const share = budget.usedShare === null ? '' : ` (${(budget.usedShare * 100).toFixed(1)}% committed)`;
  const of = budget.limitUsd === null ? 'of a budget unknown here' : `of the $${budget.limitUsd.toFixed(2)} budget`;
  const usageRows = today.byStageAndModel.map((line) => [
    line.stage,
    line.model,
    formatCount(line.calls),
    formatCount(line.promptTokens),
    formatCount(line.completionTokens),
    formatUsd(line.costUsd),
  ]);
  const usageAlign: Align[] = ['left', 'left', 'right', 'right', 'right', 'right'];
  lines.push(
    ...labelled('today', [
      `${today.day}: ${formatCount(today.calls)} calls, ${formatCount(today.promptTokens + today.completionTokens)} tokens, ` +
        `${formatUsd(today.costUsd)} ${of}${share}, ${formatUsd(budget.reservedUsd)} reserved, ${today.rebilledCalls} re-billed`,
      ...(usageRows.length > 0
        ? renderTable(['stage', 'model', 'calls', 'prompt', 'completion', 'cost'], usageRows, usageAlign)
        : []),
    ]),
    '',
  );

  const alarms = snapshot.alarms;
  const alarmLines = !alarms.checked
    ? [alarms.note ?? 'not checked']
    : alarms.inAlarm.length === 0
      ? ['none in ALARM']
      : [
          `${alarms.inAlarm.length} in ALARM`,
          ...alarms.inAlarm.map((alarm) => `${alarm.name} since ${alarm.since}: ${oneLine(alarm.reason, 100)}`),
        ];
  lines.push(...labelled('alarms', alarmLines));
  return lines;
}
