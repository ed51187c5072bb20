import { DEV_HELP, runDev } from './dev.ts';
import { EXIT, UsageError } from './usage-error.ts';

const HELP = `Usage: sluice <command> [options]

Commands:
  dev        Run the whole pipeline locally on embedded emulators and an LLM simulator.
  help       Show this help, or a command's: sluice help dev

Run 'sluice <command> --help' for a command's options and examples.
`;

const COMMANDS: Record<string, { run: (args: string[]) => Promise<number>; help: string }> = {
  dev: { run: runDev, help: DEV_HELP },
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
    process.stderr.write(`sluice: unknown command '${command}'\n\n${HELP}`);
    return EXIT.usage;
  }
  try {
    return await entry.run(args);
  } catch (error) {
    if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(
        `sluice ${command}: ${(error as Error).message}\nRun 'sluice ${command} --help' for usage.\n`,
      );
      return EXIT.usage;
    }
    process.stderr.write(
      `sluice ${command}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return EXIT.failure;
  }
}
