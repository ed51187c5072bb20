import { parseArgs } from 'node:util';
import { CommandError, shown } from '#ops/errors.ts';
import { type ItemChain, readItemChain } from '#ops/item-chain.ts';
import { TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import { parseItemId } from './arguments.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runOperatorCommand,
  targetRequestOf,
} from './operator-command.ts';
import {
  type Align,
  formatCount,
  formatDuration,
  formatUsd,
  oneLine,
  renderTable,
  terminalSafe,
} from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

export const SHOW_HELP = `Usage: sluice show ID [options]

Shows one item's whole chain from the state table: its input, the extracted knowledge, every draft with the
reviewer's verdict (rejected drafts with the feedback), the related items the draft was given from memory (or
that it was drafted without history), every LLM call (model, tokens, cost, latency, outcome, re-billed),
attempts, errors and the state history.

Options:
  --full               Print the whole body and every draft's markdown (default: the first lines).
${TARGET_HELP}
Exit codes: 0 shown; 1 no such item, or an unreachable target; 2 bad usage.

Examples:
  sluice show sample-001
  sluice show sample-001 --full | less
  sluice show sample-001 --json | jq '.calls[] | {step, model, costUsd}'
`;

interface ShowOptions {
  itemId: string;
  full: boolean;
  json: boolean;
  target: TargetRequest;
}

function parseShowArgs(args: string[]): ShowOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { ...TARGET_OPTIONS, full: { type: 'boolean', default: false } },
  });
  if (values.help) return 'help';
  const [itemId, ...rest] = positionals;
  if (itemId === undefined) throw new UsageError('name the item to show: sluice show ID');
  if (rest.length > 0) throw new UsageError(`one item at a time (got ${shown(positionals.join(' '))})`);
  return {
    itemId: parseItemId('the item id', itemId),
    full: values.full,
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice show`: returns the process exit code.
 * @example process.exitCode = await runShow(['--help']);
 */
export async function runShow(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseShowArgs(args);
  return runOperatorCommand(
    'show',
    SHOW_HELP,
    options,
    async (target, options) => {
      const chain = await readItemChain(target, options.itemId);
      if (chain === undefined) {
        throw new CommandError(
          `no item '${options.itemId}' in the state table ${target.stateTableName} of ${target.description}`,
        );
      }
      if (options.json) printJson(chain, io);
      else renderChain(chain, options.full).forEach(printer(io));
      return EXIT.ok;
    },
    io,
  );
}

const PREVIEW_LINES = 6;

function preview(text: string, full: boolean, indent: string): string[] {
  const lines = text.split('\n');
  const shown = full ? lines : lines.slice(0, PREVIEW_LINES);
  const cut =
    full || lines.length <= PREVIEW_LINES ? [] : [`... ${lines.length - PREVIEW_LINES} more line(s) (--full)`];
  return [...shown, ...cut].map((line) => `${indent}${full ? line : oneLine(line, 110)}`);
}

/** The chain as text, section by section. */
function renderChain(chain: ItemChain, full: boolean): string[] {
  const { item } = chain;
  const lines: string[] = [];
  const flags = item.degraded && item.degraded.length > 0 ? `  degraded: ${item.degraded.join(', ')}` : '';
  lines.push(`item ${item.itemId}  ${item.state}${flags}`);
  const expires =
    item.expiresAt === undefined ? '' : `, expires ${new Date(item.expiresAt * 1000).toISOString()} (retentionDays)`;
  lines.push(`  created ${item.createdAt}, updated ${item.updatedAt}, version ${item.version}${expires}`);
  if (item.publication) {
    const p = item.publication;
    lines.push(
      `  published ${p.publishedAt} as ${p.publicationId} (revision ${p.revision}, ${p.approved ? 'approved' : 'NOT approved'})`,
    );
  }

  lines.push('', 'input');
  if (item.input) {
    const input = item.input;
    // One-line fields: a line break in them is written out too (the printer keeps those of a block).
    lines.push(`  title        ${terminalSafe(input.title)}`);
    for (const key of ['url', 'source', 'author', 'publishedAt'] as const) {
      if (input[key] !== undefined) lines.push(`  ${key.padEnd(12)} ${terminalSafe(input[key])}`);
    }
    lines.push(`  body         (${input.body.length} characters)`, ...preview(input.body, full, '    '));
  } else if (item.rawInput !== undefined) {
    lines.push('  (not a valid item; the message as received)', ...preview(item.rawInput, full, '    '));
  } else {
    lines.push('  (none recorded)');
  }

  lines.push('', 'extraction');
  if (item.knowledge)
    lines.push(
      ...JSON.stringify(item.knowledge, null, 2)
        .split('\n')
        .map((line) => `  ${line}`),
    );
  else lines.push('  (none yet)');

  lines.push('', 'memory');
  if (chain.memory.length === 0) {
    lines.push(item.degraded?.includes('NO_HISTORY') ? '  drafted without history (NO_HISTORY)' : '  (no draft yet)');
  }
  for (const use of chain.memory) {
    const label = chain.memory.length > 1 || use.generation > 0 ? `  generation ${use.generation}: ` : '  ';
    if (use.degraded) lines.push(`${label}memory unavailable: drafted without history (NO_HISTORY)`);
    else if (use.related.length === 0) lines.push(`${label}no related items found`);
    else {
      lines.push(`${label}${use.related.length} related item(s)`);
      for (const related of use.related) lines.push(`    ${related.itemId}  ${oneLine(related.title, 90)}`);
    }
  }

  lines.push('', 'drafts');
  if (chain.drafts.length === 0) lines.push('  (none yet)');
  for (const round of chain.drafts) {
    const name = `${round.generation > 0 ? `generation ${round.generation}, ` : ''}revision ${round.revision}`;
    const verdict = round.verdict.toUpperCase() + (round.published ? ', published' : '');
    lines.push(`  ${name}: ${verdict}${round.draft ? `  "${oneLine(round.draft.title, 80)}"` : ''}`);
    if (round.review && round.verdict === 'rejected') {
      lines.push(`    feedback: ${full ? round.review.feedback : oneLine(round.review.feedback, 200)}`);
      for (const claim of round.review.unsupportedClaims) lines.push(`    unsupported: ${oneLine(claim, 120)}`);
    }
    if (round.draft) lines.push(...preview(round.draft.markdown, full, '    | '));
  }

  lines.push('', 'llm calls');
  if (chain.calls.length === 0) lines.push('  (none)');
  else {
    const rows = chain.calls.map((call) => [
      `${call.stage} ${call.step}${call.n > 0 ? `#${call.n}` : ''}`,
      call.model,
      formatCount(call.promptTokens),
      formatCount(call.completionTokens),
      formatUsd(call.costUsd),
      formatDuration(call.latencyMs),
      call.outcome,
      call.rebilled ? 'RE-BILLED' : '',
      call.at,
    ]);
    const t = chain.totals;
    rows.push([
      'total',
      `${t.calls} call(s)`,
      formatCount(t.promptTokens),
      formatCount(t.completionTokens),
      formatUsd(t.costUsd),
      '',
      '',
      t.rebilledCalls > 0 ? `${t.rebilledCalls} re-billed` : '',
      '',
    ]);
    const align: Align[] = ['left', 'left', 'right', 'right', 'right', 'right', 'left', 'left', 'left'];
    const header = ['step', 'model', 'prompt', 'completion', 'cost', 'latency', 'outcome', 're-billed', 'at'];
    lines.push(...renderTable(header, rows, align).map((line) => `  ${line}`));
  }

  lines.push('', 'attempts and errors');
  lines.push(
    `  failed attempts: extract ${item.attempts?.extract ?? 0}, draft ${item.attempts?.draft ?? 0}` +
      `; waits (deferrals): ${item.deferrals ?? 0}`,
  );
  if (item.lastError) lines.push(`  last error: ${describeFailure(item.lastError)}`);
  if (item.deadLetter) {
    const marker = item.deadLetter.deadLetterId;
    lines.push(`  DEAD-LETTERED: ${describeFailure(item.deadLetter)}`);
    // Only a redrive of the DLQ message with this id resumes the item; other deliveries are acknowledged.
    lines.push(
      `  dead-letter id: ${marker ?? 'none (dead-lettered before ids: any message of its stage redrives it)'}`,
    );
  }

  if (item.discarded) {
    const d = item.discarded;
    lines.push(`  DISCARDED by ${terminalSafe(d.by)} at ${d.at}: ${oneLine(d.reason, 200)}`);
  }

  lines.push('', 'history');
  for (const change of item.history ?? []) lines.push(`  ${change.at}  ${change.state}`);
  return lines;
}

function describeFailure(failure: NonNullable<ItemRecord['lastError']>): string {
  return `${failure.errorClass} in ${failure.stage} (attempt ${failure.attempts}, ${failure.at}): ${oneLine(failure.message, 200)}`;
}
