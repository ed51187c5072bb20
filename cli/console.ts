import { parseArgs } from 'node:util';
import { CommandError } from '#ops/errors.ts';
import { TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import { allowedHostNames, assertListenable, ConsoleError, isLoopback } from '../console/access.ts';
import { type ConsoleServer, DEFAULT_HOST, startConsole } from '../console/server.ts';
import { noPositionals } from './arguments.ts';
import { type CommandIo, PROCESS_IO, printer, runOperatorCommand, targetRequestOf } from './operator-command.ts';
import { EXIT, UsageError } from './usage-error.ts';

/** The port `sluice console` listens on unless told otherwise. */
const DEFAULT_CONSOLE_PORT = 4310;

export const CONSOLE_HELP = `Usage: sluice console [options]

Serves a web console for the stack on this machine, at http://${DEFAULT_HOST}:${DEFAULT_CONSOLE_PORT}/ by default:
  Board         items per state, queue and DLQ depths with their oldest message, breakers, limiters,
                today's spend against the budget, alarms; refreshes itself
  Items         every item, filtered by state, stage, degraded, error class and date, or found by id
  Item          one item's whole chain: input, extraction, drafts beside the reviewer's feedback, memory,
                every LLM call, attempts, errors, its history as a timeline
  Dead letters  grouped by stage and error class; redrive a group or chosen items, re-enrich degraded ones
  Economics     tokens and dollars per day by stage and model, spend against the budget, cost per item

It reads the same stack as the other commands, with their code: what a page shows is what 'sluice status',
'show', 'costs', 'redrive --dry-run' and 'reenrich --dry-run' print. It changes nothing unless an action is
confirmed in the page. Nothing is fetched from the internet, and no secret is sent to the page.

On this machine (the default) it needs no login and answers only to localhost, 127.0.0.1 and ::1. Beyond it
(--host 0.0.0.0 --allow-remote), it makes a random token at start and prints it once, with the URL to open:
every request must carry it, as 'Authorization: Bearer TOKEN' or as the cookie (HttpOnly, SameSite=Strict)
that opening /?token=TOKEN once sets. It then answers only to loopback's names, the address it listens on and
each --allow-host NAME; a request for any other name (a DNS-rebinding page's) is refused, and so is a POST
whose Origin is not one of those names. The token changes at every start. It serves plain HTTP: beyond a
trusted network, reach it through an SSH tunnel or a TLS proxy.

Options:
  --host HOST          Interface to listen on (default ${DEFAULT_HOST}). Anything beyond this machine
                       (e.g. 0.0.0.0) is refused without --allow-remote.
  --port N             Port to listen on (default ${DEFAULT_CONSOLE_PORT}; 0 picks a free one).
  --allow-remote       Listen beyond this machine, with the token required on every request.
  --allow-host NAME    Beyond this machine: also answer to the host name (or address) NAME, the one the
                       console is reached by, e.g. console.example. Repeatable.
${TARGET_HELP}
With --json, prints { "url", "target" } on one line once it listens, and beyond this machine also "token",
"openUrl" and "allowedHosts". Runs until Ctrl-C.

Exit codes: 0 stopped with Ctrl-C; 1 an unreachable target or a port in use; 2 bad usage (including a host
beyond this machine without --allow-remote, and --allow-host that is not a host name or is given on loopback).

Examples:
  sluice console                                  # next to 'sluice dev': open http://127.0.0.1:${DEFAULT_CONSOLE_PORT}/
  sluice console --port 8080 --stack Sluice --region eu-west-1
  sluice console --host 0.0.0.0 --allow-remote    # e.g. inside a container, published to the host
  sluice console --host 0.0.0.0 --allow-remote --allow-host console.example
`;

interface ConsoleCommandOptions {
  host: string;
  port: number;
  allowRemote: boolean;
  allowedHosts: string[];
  json: boolean;
  target: TargetRequest;
}

function parseConsoleArgs(args: string[]): ConsoleCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      host: { type: 'string', default: DEFAULT_HOST },
      port: { type: 'string', default: String(DEFAULT_CONSOLE_PORT) },
      'allow-remote': { type: 'boolean', default: false },
      'allow-host': { type: 'string', multiple: true, default: [] },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || port > 65_535) {
    throw new UsageError(`--port must be a whole number from 0 to 65535 (got ${values.port})`);
  }
  if (values.host.trim() === '') throw new UsageError('--host must name an interface, e.g. 127.0.0.1');
  let allowedHosts: string[];
  try {
    assertListenable(values.host, values['allow-remote'], '--allow-remote');
    allowedHosts = allowedHostNames(values['allow-host'], '--allow-host');
  } catch (error) {
    if (error instanceof ConsoleError) throw new UsageError(error.message);
    throw error;
  }
  if (allowedHosts.length > 0 && isLoopback(values.host)) {
    throw new UsageError(
      `--allow-host applies beyond this machine only (with --host 0.0.0.0 --allow-remote): on ${values.host} ` +
        'the console answers to localhost, 127.0.0.1 and ::1',
    );
  }
  return {
    host: values.host,
    port,
    allowRemote: values['allow-remote'],
    allowedHosts,
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice console`: serves the console until SIGINT or SIGTERM (or `stop` aborts), and returns the exit code.
 * @example process.exitCode = await runConsole(['--port', '8080']);
 */
export async function runConsole(args: string[], io: CommandIo = PROCESS_IO, stop?: AbortSignal): Promise<number> {
  const options = parseConsoleArgs(args);
  return runOperatorCommand(
    'console',
    CONSOLE_HELP,
    options,
    async (target, options) => {
      let server: ConsoleServer;
      try {
        server = await startConsole({
          target,
          host: options.host,
          port: options.port,
          allowRemote: options.allowRemote,
          allowedHosts: options.allowedHosts,
        });
      } catch (error) {
        if (error instanceof ConsoleError) throw new CommandError(error.message, { cause: error });
        throw error;
      }
      try {
        const remote =
          server.token === undefined
            ? undefined
            : { token: server.token, openUrl: server.openUrl, allowedHosts: options.allowedHosts };
        if (options.json) {
          io.out.write(`${JSON.stringify({ url: server.url, target: target.description, ...remote })}\n`);
        } else {
          const print = printer(io);
          print(`sluice console for ${target.description}`);
          print(`  open ${server.openUrl}`);
          if (remote !== undefined) {
            const listening = options.host === '0.0.0.0' || options.host === '::' ? [] : [options.host];
            const names = ['localhost', '127.0.0.1', '::1', ...listening, ...remote.allowedHosts];
            print(`  listening on ${options.host}: reachable beyond this machine, answering to ${names.join(', ')}`);
            print(`  every request needs the token ${remote.token}`);
            print('  (opening the URL above once sets it as a cookie; scripts send Authorization: Bearer TOKEN)');
          }
          print('  Ctrl-C to stop');
        }
        await stopped(stop);
        return EXIT.ok;
      } finally {
        await server.close();
      }
    },
    io,
  );
}

/** Resolves on SIGINT, SIGTERM or when `signal` aborts. */
function stopped(signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (signal?.aborted) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}
