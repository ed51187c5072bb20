import { CHAOS_HELP, runChaosCommand } from './chaos.ts';
import { CONSOLE_HELP, runConsole } from './console.ts';
import { COSTS_HELP, runCosts } from './costs.ts';
import { DEV_HELP, runDev } from './dev.ts';
import { DISCARD_HELP, runDiscard } from './discard.ts';
import { DOCTOR_HELP, runDoctor } from './doctor/command.ts';
import { ENQUEUE_HELP, runEnqueue } from './enqueue.ts';
import { PAUSE_HELP, RESUME_HELP, runPause, runResume } from './pause.ts';
import { REDRIVE_HELP, runRedrive } from './redrive.ts';
import { REENRICH_HELP, runReenrich } from './reenrich.ts';
import { runShow, SHOW_HELP } from './show.ts';
import { runStatus, STATUS_HELP } from './status.ts';
import { terminalSafe } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

const HELP = `Usage: sluice <command> [options]

Commands:
  dev        Run the whole pipeline locally on embedded emulators and an LLM simulator.
  chaos      Run the pipeline locally under a scenario of faults and check that nothing was lost or paid twice.
  enqueue    Check a JSONL or CSV file of items and put the valid ones on the intake queue.
  status     Items per state, queues and DLQs, breakers, limiters, today's spend, alarms (--watch).
  show       One item's whole chain: input, extraction, drafts and reviews, memory, LLM calls, history.
  costs      Token economics per stage, model or day, with totals (--json, --csv).
  redrive    Move dead letters back to their source queue, optionally by item, stage and error class.
  discard    Give up on dead letters on purpose: items become DISCARDED (who, when, why); their dead letters go.
  reenrich   Redraft published items that were drafted without history (NO_HISTORY).
  pause      Pause a stage (extract or draft): disable its event source; its messages wait in the queue.
  resume     Resume a paused stage: enable its event source again.
  console    Serve a web console for the stack: board, items, dead letters with redrive, economics.
  doctor     Check the stack end to end: what is wrong (queues, tables, secret, provider, ...) and the fix for each.
  help       Show this help, or a command's: sluice help dev

Run 'sluice <command> --help' for a command's options and examples. The operator commands (all but dev and chaos) act on
the stack 'sluice dev' runs (its .sluice/outputs.json) or a deployed one (--outputs FILE, --stack NAME).
`;

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; help: string }> = {
  dev: { run: runDev, help: DEV_HELP },
  chaos: { run: runChaosCommand, help: CHAOS_HELP },
  enqueue: { run: runEnqueue, help: ENQUEUE_HELP },
  status: { run: runStatus, help: STATUS_HELP },
  show: { run: runShow, help: SHOW_HELP },
  costs: { run: runCosts, help: COSTS_HELP },
  redrive: { run: runRedrive, help: REDRIVE_HELP },
  discard: { run: runDiscard, help: DISCARD_HELP },
  reenrich: { run: runReenrich, help: REENRICH_HELP },
  pause: { run: runPause, help: PAUSE_HELP },
  resume: { run: runResume, help: RESUME_HELP },
  console: { run: runConsole, help: CONSOLE_HELP },
  doctor: { run: runDoctor, help: DOCTOR_HELP },
};

/** Runs the CLI and returns its exit code: 0 ok, 1 failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? args[0] : undefined;
    process.stdout.write(topic && COMMANDS[topic] ? COMMANDS[topic].help : HELP);
    return EXIT.ok;
  }
  const entry = COMMANDS[command];
  if (entry === undefined) {
    process.stderr.write(`sluice: unknown command '${terminalSafe(command)}'\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await entry.run(args);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(
        `sluice ${command}: ${terminalSafe((error as Error).message, { multiline: true })}\nRun 'sluice ${command} --help' for usage.\n`,
      );
      return EXIT.usage;
    }
    process.stderr.write(
      `sluice ${command}: ${terminalSafe(error instanceof Error ? (error.stack ?? error.message) : String(error), { multiline: true })}\n`,
    );
    return EXIT.failure;
  }
}
