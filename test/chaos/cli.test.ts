import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;

/** Runs the CLI and returns its exit code and output, whatever the code. */
async function sluice(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [SLUICE, ...args], { timeout: 90_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? -1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

describe('Command: sluice chaos', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-chaos-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('shows its options and examples with --help', async () => {
    // Act
    const { code, stdout } = await sluice('chaos', '--help');

    // Assess
    expect(code).toBe(0);
    expect(stdout).toContain('--scenario FILE');
    expect(stdout).toContain('Examples:');
  });

  it('exits 2 naming the field of an invalid scenario', async () => {
    // Prepare
    const file = join(dir, 'bad.json');
    await writeFile(
      file,
      JSON.stringify({ name: 'bad', seed: 1, items: { count: 2 }, crashes: { 'after-sent': 0.1 } }),
    );

    // Act
    const { code, stderr } = await sluice('chaos', '--scenario', file);

    // Assess
    expect(code).toBe(2);
    expect(stderr).toContain('crashes.after-sent');
  });

  it('exits 2 without --scenario', async () => {
    // Act
    const { code, stderr } = await sluice('chaos');

    // Assess
    expect(code).toBe(2);
    expect(stderr).toContain('--scenario');
  });

  /** A small scenario: six items and an invalid one, some malformed answers, `maxAttempts` per stage. */
  async function smallScenario(
    file: string,
    maxAttempts: number,
    malformedRate: number,
    { latencyMs = 10, drainTimeoutSeconds = 60 } = {},
  ) {
    const timeoutSeconds = Math.ceil(latencyMs / 1000) + 1;
    await writeFile(
      file,
      JSON.stringify({
        name: 'small',
        seed: 3,
        items: { count: 6, poison: 1 },
        config: {
          stages: { extract: { timeoutSeconds: timeoutSeconds * 6 }, draft: { timeoutSeconds: timeoutSeconds * 6 } },
          llm: { timeoutSeconds },
          maxAttempts,
          maxReceiveCount: 10,
        },
        simulator: { latencyMs, faults: { malformedRate } },
        drainTimeoutSeconds,
      }),
    );
  }

  it('runs a scenario, prints a table of checks, writes the report and exits 0 when every check passes', async () => {
    // Prepare
    const file = join(dir, 'small.json');
    const report = join(dir, 'report.json');
    await smallScenario(file, 8, 0.1);

    // Act
    const { code, stdout } = await sluice('chaos', '--scenario', file, '--report', report, '--quiet');

    // Assess
    expect(stdout).toMatch(/PASS\s+lost\s+0 \/ 0/);
    expect(stdout).toMatch(/small: \d+ of \d+ checks passed/);
    const written = JSON.parse(await readFile(report, 'utf8')) as { ok: boolean; counts: { accepted: number } };
    expect(written.counts.accepted).toBe(7);
    expect(code).toBe(written.ok ? 0 : 1);
    expect(written.ok).toBe(true);
  }, 90_000);

  it('counts the drain timeout from the last progress, so a run that keeps moving may last longer than it', async () => {
    // Prepare: extract, draft and review one after the other at 2.5 s each take 7.5 s per item, past the 7 s timeout
    const file = join(dir, 'slow.json');
    const report = join(dir, 'slow-report.json');
    await smallScenario(file, 8, 0, { latencyMs: 2500, drainTimeoutSeconds: 7 });

    // Act
    const { code } = await sluice('chaos', '--scenario', file, '--report', report, '--quiet');

    // Assess
    const written = JSON.parse(await readFile(report, 'utf8')) as {
      checks: { name: string; ok: boolean; observed: number }[];
    };
    const drained = written.checks.find((check) => check.name === 'drained');
    expect(drained).toMatchObject({ ok: true });
    expect(drained?.observed).toBeGreaterThan(7);
    expect(code).toBe(0);
  }, 90_000);

  it('exits 1 and names the failed check when the pipeline breaks an expectation of the scenario', async () => {
    // Prepare: one attempt per stage cannot absorb half the answers being malformed
    const file = join(dir, 'fragile.json');
    await smallScenario(file, 1, 0.5);

    // Act
    const { code, stdout } = await sluice('chaos', '--scenario', file, '--quiet');

    // Assess
    expect(code).toBe(1);
    expect(stdout).toMatch(/FAIL\s+transientDeadLetters/);
    expect(stdout).toMatch(/FAILED: .*transientDeadLetters/);
  }, 90_000);
});
