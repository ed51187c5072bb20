import { CommandError } from '#ops/errors.ts';
import { resolveTarget, type Target, TargetError, type TargetRequest } from '#ops/target.ts';
import { terminalSafe } from './text-table.ts';
import { EXIT } from './usage-error.ts';

/**
 * What the operator commands share: resolving the target once, closing its clients, and turning an expected
 * failure (a target that cannot be reached, an unknown item, a refusal) into one clear line and exit code 1.
 */

/** Where a command writes: stdout and stderr by default, anything with `write` in tests. @example runStatus(args, { out, err }) */
export interface CommandIo {
  readonly out: { write(text: string): unknown };
  readonly err: { write(text: string): unknown };
}

export const PROCESS_IO: CommandIo = { out: process.stdout, err: process.stderr };

/**
 * Resolves the target, runs `body` against it and closes it. CommandError and TargetError become
 * `sluice <command>: <message>` on stderr and exit code 1; anything else propagates (the CLI prints its stack).
 * @example
 * return runAgainstTarget('status', options.target, async (target) => { ...; return EXIT.ok; });
 */
export async function runAgainstTarget(
  command: string,
  request: TargetRequest,
  body: (target: Target) => Promise<number>,
  io: CommandIo = PROCESS_IO,
): Promise<number> {
  let target: Target | undefined;
  try {
    target = await resolveTarget(request);
    return await body(target);
  } catch (error) {
    if (error instanceof CommandError || error instanceof TargetError) {
      io.err.write(`sluice ${command}: ${terminalSafe(error.message, { multiline: true })}\n`);
      return EXIT.failure;
    }
    throw error;
  } finally {
    target?.close();
  }
}

/**
 * The frame of an operator command: `--help` prints `help` and exits 0; otherwise `body` runs against the target
 * (see `runAgainstTarget`) with the parsed options.
 * @example return runOperatorCommand('costs', COSTS_HELP, parseCostsArgs(args), async (target, options) => { ... }, io);
 */
export async function runOperatorCommand<O extends { target: TargetRequest }>(
  command: string,
  help: string,
  options: O | 'help',
  body: (target: Target, options: O) => Promise<number>,
  io: CommandIo = PROCESS_IO,
): Promise<number> {
  if (options === 'help') {
    io.out.write(help);
    return EXIT.ok;
  }
  return runAgainstTarget(command, options.target, (target) => body(target, options), io);
}

/** The target options of a parsed command line. @example targetRequestOf(values) // { outputs, stack, region } */
export function targetRequestOf(values: {
  outputs?: string | undefined;
  stack?: string | undefined;
  region?: string | undefined;
}): TargetRequest {
  return { outputs: values.outputs, stack: values.stack, region: values.region };
}

/**
 * Prints lines to the command's output, each made safe for a terminal (see {@link terminalSafe}).
 * @example const print = printer(io); print('done');
 */
export function printer(io: CommandIo = PROCESS_IO): (line?: string) => void {
  return (line = '') => {
    io.out.write(`${terminalSafe(line, { multiline: true })}\n`);
  };
}

/**
 * Writes lines of human output at once, each made safe for a terminal (see {@link terminalSafe}).
 * @example writeLines(io.out, renderStatus(snapshot));
 */
export function writeLines(out: CommandIo['out'], lines: readonly string[]): void {
  out.write(`${lines.map((line) => terminalSafe(line, { multiline: true })).join('\n')}\n`);
}

/** Prints a value as indented JSON. @example printJson({ moved: 3 }, io); */
export function printJson(value: unknown, io: CommandIo = PROCESS_IO): void {
  io.out.write(`${JSON.stringify(value, null, 2)}\n`);
}
