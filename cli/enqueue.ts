import { readFile } from 'node:fs/promises';
import { buffer as readStream } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { ProgressView } from '#local/progress.ts';
import { CommandError } from '#ops/errors.ts';
import { type SentMessage, sendBodies } from '#ops/queue-io.ts';
import { intakeLane, TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import { parseChoice } from './arguments.ts';
import {
  type BadLine,
  checkItemFile,
  decodeItemFile,
  formatOfFile,
  ITEM_FORMATS,
  type ItemFileCheck,
  ItemFileError,
  type ItemFormat,
} from './item-file.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runAgainstTarget,
  targetRequestOf,
} from './operator-command.ts';
import { terminalSafe } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

export const ENQUEUE_HELP = `Usage: sluice enqueue FILE|- [options]

Puts items on the intake queue. FILE is JSON Lines (one item object per line) or CSV (a header naming the item's
fields: id, title, body, url, source, author, publishedAt; empty cells are absent fields); '-' reads standard
input. Every line is checked with the intake schema first; bad lines are reported with their line number and
reason and are not sent. The rest go out in batches of ten, retrying entries a batch refused. A file that cannot
be read faithfully is refused whole, nothing sent, with the line and column at fault: invalid UTF-8, or CSV
quoting that is broken (a quote inside an unquoted field, text after a closing quote, a quote never closed).

Options:
  --format jsonl|csv   Format of the file (default: from its extension; jsonl for standard input).
  --strict             Send nothing if any line is bad.
  --replace-invalid-utf8
                       Send lines holding invalid UTF-8 with U+FFFD in place of the bad bytes (and list them)
                       instead of refusing the file.
  --dry-run            Check the file and report; send nothing.
${TARGET_HELP}
Exit codes: 0 every line sent (or, with --dry-run, valid); 1 bad lines, a send failure or an unreachable
target; 2 bad usage, or a file refused whole (invalid UTF-8, broken CSV quoting, a bad CSV header).

Examples:
  sluice enqueue items.jsonl                      # to the stack 'sluice dev' runs, or the deployed Sluice stack
  sluice enqueue feed.csv --strict --outputs outputs.json
  sluice enqueue items.jsonl --dry-run --json | jq '.bad'
  producer | sluice enqueue - --stack Sluice --region eu-west-1
`;

/** Bad lines printed in text mode; --json lists them all. */
const SHOWN_BAD_LINES = 20;

interface EnqueueOptions {
  file: string;
  format: ItemFormat | undefined;
  strict: boolean;
  replaceInvalidUtf8: boolean;
  dryRun: boolean;
  json: boolean;
  target: TargetRequest;
}

function parseEnqueueArgs(args: string[]): EnqueueOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      format: { type: 'string' },
      strict: { type: 'boolean', default: false },
      'replace-invalid-utf8': { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  const [file, ...rest] = positionals;
  if (file === undefined) throw new UsageError('name the file of items to send (or - for standard input)');
  if (rest.length > 0) throw new UsageError(`one file at a time (got ${positionals.join(' ')})`);
  return {
    file,
    format: values.format === undefined ? undefined : parseChoice('--format', values.format, ITEM_FORMATS),
    strict: values.strict,
    replaceInvalidUtf8: values['replace-invalid-utf8'],
    dryRun: values['dry-run'],
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice enqueue`: returns the process exit code.
 * @example process.exitCode = await runEnqueue(['--help']);
 */
export async function runEnqueue(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseEnqueueArgs(args);
  if (options === 'help') {
    io.out.write(ENQUEUE_HELP);
    return EXIT.ok;
  }
  const format = options.format ?? (options.file === '-' ? 'jsonl' : formatOfFile(options.file));
  if (format === undefined) {
    throw new UsageError(`cannot tell the format of ${options.file} from its extension: add --format jsonl|csv`);
  }
  let check: ItemFileCheck;
  let replacedLines: number[];
  try {
    const decoded = decodeItemFile(await readInput(options.file), options.replaceInvalidUtf8);
    replacedLines = decoded.replacedLines;
    check = checkItemFile(decoded.text, format);
  } catch (error) {
    if (!(error instanceof ItemFileError || error instanceof CommandError)) throw error;
    io.err.write(`sluice enqueue: ${terminalSafe(`${options.file}: ${error.message}`, { multiline: true })}\n`);
    // A file that cannot be read as items is bad input (exit 2); one that cannot be read at all is a failure.
    return error instanceof ItemFileError ? EXIT.usage : EXIT.failure;
  }
  const print = printer(io);
  const summary = {
    file: options.file,
    format,
    records: check.records,
    valid: check.valid.length,
    bad: check.bad,
    ...(replacedLines.length > 0 ? { replacedInvalidUtf8Lines: replacedLines } : {}),
  };
  if (!options.json) {
    printCheck(print, options.file, check);
    if (replacedLines.length > 0) {
      print(`  replaced invalid UTF-8 with U+FFFD on line(s) ${replacedLines.slice(0, SHOWN_BAD_LINES).join(', ')}`);
    }
  }

  if (options.dryRun || (options.strict && check.bad.length > 0)) {
    const refused = !options.dryRun;
    if (options.json) printJson({ ...summary, sent: 0, dryRun: options.dryRun, refused }, io);
    else if (refused) print(`--strict: nothing sent because of ${check.bad.length} bad line(s)`);
    else print(`dry run: ${check.valid.length} item(s) would be sent`);
    return check.bad.length === 0 ? EXIT.ok : EXIT.failure;
  }

  return runAgainstTarget(
    'enqueue',
    options.target,
    async (target) => {
      const bodies = check.valid.map((line) => line.body);
      const progress = options.json ? undefined : sendProgress(io, bodies.length);
      let sent: SentMessage[];
      try {
        sent = await sendBodies(target.sqs, intakeLane(target).queue.url, bodies, progress);
      } catch (error) {
        throw new CommandError(
          `sending stopped after ${progress?.sent() ?? 'some'} of ${bodies.length} item(s): ${(error as Error).message}`,
          { cause: error },
        );
      }
      const messageIdOf = new Map(sent.map((message) => [message.body, message.messageId]));
      if (options.json) {
        printJson(
          {
            ...summary,
            target: target.description,
            queueUrl: intakeLane(target).queue.url,
            sent: sent.length,
            items: check.valid.map((line) => ({
              line: line.line,
              itemId: line.itemId,
              messageId: messageIdOf.get(line.body),
            })),
          },
          io,
        );
      } else {
        print(
          `sent ${sent.length} item(s) to the intake queue of ${target.description}` +
            (check.bad.length > 0 ? `; ${check.bad.length} bad line(s) not sent` : ''),
        );
      }
      return check.bad.length === 0 ? EXIT.ok : EXIT.failure;
    },
    io,
  );
}

async function readInput(file: string): Promise<Buffer> {
  try {
    return file === '-' ? await readStream(process.stdin) : await readFile(file);
  } catch (error) {
    throw new CommandError(`cannot read: ${(error as Error).message}`, { cause: error });
  }
}

function printCheck(print: (line?: string) => void, file: string, check: ItemFileCheck) {
  print(
    `${file === '-' ? 'standard input' : file}: ${check.records} line(s), ${check.valid.length} valid, ${check.bad.length} bad`,
  );
  for (const bad of check.bad.slice(0, SHOWN_BAD_LINES)) print(`  ${describeBad(bad)}`);
  if (check.bad.length > SHOWN_BAD_LINES) {
    print(`  ... and ${check.bad.length - SHOWN_BAD_LINES} more (--json lists them all)`);
  }
}

function describeBad(bad: BadLine): string {
  return `line ${bad.line}${bad.itemId === undefined ? '' : ` (${bad.itemId})`}: ${bad.reason}`;
}

const BAR_WIDTH = 30;
/** Off a terminal, a line per this share of the file, so logs stay short. */
const PLAIN_STEP = 0.1;

/**
 * Progress of the sends: a bar redrawn in place on a terminal, a plain line every tenth of the way elsewhere.
 * It is also the callback `sendBodies` reports to.
 */
function sendProgress(io: CommandIo, total: number): ((sent: number) => void) & { sent(): number } {
  const out = io.out as NodeJS.WriteStream;
  const interactive = out.isTTY === true && process.env.CI === undefined;
  const view = interactive ? new ProgressView(out) : undefined;
  let lastPlain = 0;
  let latest = 0;
  const started = Date.now();
  const report = (sent: number) => {
    latest = sent;
    if (total === 0) return;
    const share = Math.min(1, sent / total);
    if (view !== undefined) {
      const filled = Math.round(share * BAR_WIDTH);
      const rate = sent / Math.max(0.001, (Date.now() - started) / 1000);
      view.show([
        `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${sent}/${total} sent  ${rate.toFixed(0)}/s`,
      ]);
      return;
    }
    if (sent === total || share - lastPlain >= PLAIN_STEP) {
      lastPlain = share;
      io.out.write(`sent ${sent}/${total}\n`);
    }
  };
  return Object.assign(report, { sent: () => latest });
}
