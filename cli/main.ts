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
  pause      Pause a stage: disable its event source; its messages wait in the queue.
  resume     Resume a paused stage: enable its event source again.
  console    Serve a web console for the stack: board, items, dead letters with redrive, economics.
  doctor     Check the stack end to end: what is wrong (queues, tables, secret, provider, ...) and the fix for each.
  help       Show this help, or a command's: sluice help dev

Run 'sluice <command> --help' for a command's options and examples. The operator commands (all but dev and chaos) act on
the stack 'sluice dev' runs (its .sluice/outputs.json) or a deployed one (--outputs FILE, --stack NAME).
`;

interface Command {
  run: (args: string[]) => Promise<number>;
  help: string;
}

/**
 * Each command is loaded when it runs, so a command loads only what it uses: `sluice status` against AWS loads
 * the SDK clients it reads with, not the CDK, the emulators or the simulator that `dev` and `chaos` need.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  dev: async () => {
    const { runDev, DEV_HELP } = await import('./dev.ts');
    return { run: runDev, help: DEV_HELP };
  },
  chaos: async () => {
    const { runChaosCommand, CHAOS_HELP } = await import('./chaos.ts');
    return { run: runChaosCommand, help: CHAOS_HELP };
  },
  enqueue: async () => {
    const { runEnqueue, ENQUEUE_HELP } = await import('./enqueue.ts');
    return { run: runEnqueue, help: ENQUEUE_HELP };
  },
  status: async () => {
    const { runStatus, STATUS_HELP } = await import('./status.ts');
    return { run: runStatus, help: STATUS_HELP };
  },
  show: async () => {
    const { runShow, SHOW_HELP } = await import('./show.ts');
    return { run: runShow, help: SHOW_HELP };
  },
  costs: async () => {
    const { runCosts, COSTS_HELP } = await import('./costs.ts');
    return { run: runCosts, help: COSTS_HELP };
  },
  redrive: async () => {
    const { runRedrive, REDRIVE_HELP } = await import('./redrive.ts');
    return { run: runRedrive, help: REDRIVE_HELP };
  },
  discard: async () => {
    const { runDiscard, DISCARD_HELP } = await import('./discard.ts');
    return { run: runDiscard, help: DISCARD_HELP };
  },
  reenrich: async () => {
    const { runReenrich, REENRICH_HELP } = await import('./reenrich.ts');
    return { run: runReenrich, help: REENRICH_HELP };
  },
  pause: async () => {
    const { runPause, PAUSE_HELP } = await import('./pause.ts');
    return { run: runPause, help: PAUSE_HELP };
  },
  resume: async () => {
    const { runResume, RESUME_HELP } = await import('./pause.ts');
    return { run: runResume, help: RESUME_HELP };
  },
  console: async () => {
    const { runConsole, CONSOLE_HELP } = await import('./console.ts');
    return { run: runConsole, help: CONSOLE_HELP };
  },
  doctor: async () => {
    const { runDoctor, DOCTOR_HELP } = await import('./doctor/command.ts');
    return { run: runDoctor, help: DOCTOR_HELP };
  },
};

/** The loader of a command by name; `toString` and the like are not commands. */
function commandNamed(name: string): (() => Promise<Command>) | undefined {
  return Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
}

/** Runs the CLI and returns its exit code: 0 ok, 1 failure, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    const topic = command === 'help' ? args[0] : undefined;
    const load = topic === undefined ? undefined : commandNamed(topic);
    process.stdout.write(load === undefined ? HELP : (await load()).help);
    return EXIT.ok;
  }
  const load = commandNamed(command);
  if (load === undefined) {
    process.stderr.write(`sluice: unknown command '${terminalSafe(command)}'\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await (await load()).run(args);
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
