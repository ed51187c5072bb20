import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { main } from '#cli/main.ts';
import { STACK_NAME } from '#lib/template.ts';
import { type DevRuntime, localOutputs } from '#local/dev-runtime.ts';

/**
 * Helpers for the operator command tests: the outputs file `sluice dev` writes (stack outputs plus the
 * emulators' endpoints), and the CLI run in this process with its output captured.
 */

/**
 * Writes the outputs file of a running local stack, as `sluice dev` does.
 * @example await writeLocalOutputs(pipeline.dev, join(dir, 'outputs.json'));
 */
export async function writeLocalOutputs(dev: DevRuntime, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ [STACK_NAME]: localOutputs(dev) }, null, 2)}\n`);
}

/** The run in progress: the next waits for it, since the capture replaces process-wide writers. */
let queue: Promise<void> = Promise.resolve();

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `sluice <argv>` in this process through `main`, capturing what it writes. Runs are serialised: the
 * capture replaces the process's stdout and stderr writers while one runs.
 * @example const { code, stdout } = await runCli(['status', '--json', '--outputs', file]);
 */
export async function runCli(argv: string[]): Promise<CliRun> {
  const previous = queue;
  let done: () => void = () => undefined;
  queue = new Promise<void>((resolve) => {
    done = resolve;
  });
  await previous;
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  let stdout = '';
  let stderr = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    stdout += String(chunk);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += String(chunk);
    return true;
  }) as typeof process.stderr.write;
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    done();
  }
}

/** Parses the JSON a command printed with --json. */
export function jsonOf<T = Record<string, unknown>>(run: CliRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch (error) {
    throw new Error(`not JSON (exit ${run.code}): ${run.stdout}\n${run.stderr}`, { cause: error });
  }
}
