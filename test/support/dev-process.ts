import { type ChildProcess, spawn } from 'node:child_process';

/** `sluice dev` as a separate process, run as a developer runs it, for the tests that stop or kill it. */

const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;
/** Generous: the machine may be busy; every wait below is for something the process prints, not for a time. */
const WAIT_MS = 150_000;

/** A running `sluice dev`, its output gathered as it comes. */
export class DevProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;

  constructor(args: string[], cwd: string) {
    this.child = spawn(process.execPath, [SLUICE, 'dev', ...args], {
      cwd,
      env: { ...process.env, OPENAI_API_KEY: '', CI: 'true' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (chunk) => {
      this.stdout += String(chunk);
    });
    this.child.stderr?.on('data', (chunk) => {
      this.stderr += String(chunk);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  /** Resolves once stdout matches `pattern` (times `count`), failing with what was printed if the process exits first. */
  async waitFor(pattern: RegExp, count = 1): Promise<void> {
    const global = new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`);
    const seen = () => (this.stdout.match(global) ?? []).length >= count;
    const deadline = Date.now() + WAIT_MS;
    while (!seen()) {
      if (this.child.exitCode !== null) {
        throw new Error(
          `sluice dev exited (${this.child.exitCode}) before ${pattern}:\n${this.stdout}\n${this.stderr}`,
        );
      }
      if (Date.now() > deadline) throw new Error(`no ${pattern} (×${count}) in:\n${this.stdout}\n${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  count(pattern: RegExp): number {
    return (this.stdout.match(new RegExp(pattern.source, `${pattern.flags.replace('g', '')}g`)) ?? []).length;
  }

  /** Ends it as `kill -9` (or a power cut) would: no handler runs, nothing is flushed. */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  async interrupt(): Promise<number | null> {
    this.child.kill('SIGINT');
    return this.exited;
  }
}
