import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { writeLocalOutputs } from './operator-support.ts';

const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;
/** The escape that starts a terminal control sequence. */
const ESC = String.fromCharCode(27);
const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;

/**
 * Runs a sluice command under a pseudo-terminal (util-linux `script`), from a folder holding the local outputs
 * file where `sluice dev` writes it, so the command finds the stack with no flags. With `interruptWhen`, the
 * command gets Ctrl-C's signal, as a person would send it, once what the terminal shows satisfies it (so the
 * test waits for what it needs to see, however busy the machine). Returns what the terminal got.
 */
async function inTerminal(
  cwd: string,
  args: string[],
  interruptWhen?: (screen: string) => boolean,
): Promise<{ code: number; screen: string }> {
  const pidFile = join(cwd, `.pid-${process.pid}-${Date.now()}`);
  const command = [process.execPath, SLUICE, ...args].map(quote).join(' ');
  // The shell writes its pid and becomes the command, so the signal goes to sluice itself.
  const wrapped = `echo $$ > ${quote(pidFile)}; exec ${command}`;
  const env = { ...process.env, CI: undefined, TERM: 'xterm' };
  const child = spawn('script', ['-q', '-e', '-f', '-c', wrapped, '/dev/null'], { cwd, env });
  let screen = '';
  let interrupted = false;
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString('utf8');
    if (interruptWhen === undefined || interrupted || !interruptWhen(screen)) return;
    interrupted = true;
    void readFile(pidFile, 'utf8').then((pid) => process.kill(Number(pid.trim()), 'SIGINT'));
  });
  const code = await new Promise<number>((resolve) => child.on('close', (exitCode) => resolve(exitCode ?? -1)));
  await rm(pidFile, { force: true });
  return { code, screen };
}

describe('Commands on a terminal', () => {
  let pipeline: TestPipeline;
  let dir: string;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-terminal-'));
    await mkdir(join(dir, '.sluice'));
    await writeLocalOutputs(pipeline.dev, join(dir, '.sluice', 'outputs.json'));
    const items = Array.from({ length: 60 }, (_, index) =>
      JSON.stringify({
        id: `tty-${index}`,
        title: `Terminal item ${index}`,
        body: `Item ${index}: Example Corp opened an office in Berlin on Tuesday, the company said.`,
      }),
    );
    await writeFile(join(dir, 'items.jsonl'), `${items.join('\n')}\n`);
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('draws the enqueue progress bar in place, then a summary', async () => {
    // Act
    const { code, screen } = await inTerminal(dir, ['enqueue', 'items.jsonl']);

    // Assess: a bar redrawn on the same line (cursor up, clear line) until it is full
    expect(code).toBe(0);
    expect(screen).toMatch(new RegExp(`${ESC}\\[2K\\[#*\\.*\\] 10/60 sent`));
    expect(screen).toContain(`${ESC}[1A${ESC}[2K[${'#'.repeat(30)}] 60/60 sent`);
    expect(screen).not.toMatch(/^sent \d+\/60\r?$/m);
    expect(screen).toMatch(
      /sent 60 item\(s\) to the intake queue of Sluice \(local, outputs file \.sluice\/outputs\.json\)/,
    );
  });

  it('redraws the status in place with --watch until interrupted', async () => {
    // Act: watch while the pipeline works through the items, and press Ctrl-C once three frames have been drawn,
    // the last of them with published items
    const framesOf = (screen: string) => screen.split(new RegExp(`${ESC}\\[\\d+A`));
    const { code, screen } = await inTerminal(dir, ['status', '--watch', '--interval', '0.3'], (shown) => {
      const frames = framesOf(shown);
      return frames.length >= 4 && /PUBLISHED [1-9]/.test(frames.at(-2) ?? '');
    });

    // Assess: several frames, each after moving the cursor back over the previous one, and a clean exit on Ctrl-C
    expect(code).toBe(0);
    const frames = framesOf(screen);
    expect(frames.length).toBeGreaterThanOrEqual(3);
    for (const frame of frames) expect(frame).toMatch(/items\s+RECEIVED \d+/);
    const published = [...screen.matchAll(/PUBLISHED (\d+)/g)].map((match) => Number(match[1]));
    expect(published.at(-1)).toBeGreaterThan(0);
  });
});
