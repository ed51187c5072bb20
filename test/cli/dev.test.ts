import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SluiceConfig } from '#lib/config.ts';
import { jsonOf, runCli } from './operator-support.ts';

const run = promisify(execFile);
const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
const close = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/**
 * A base of four free ports on loopback, below the range the system hands out as ephemeral ports: the test files
 * running alongside bind their emulators to ephemeral ports, and one of those could take a port of the base
 * between this check and the start of `sluice dev`. Each base is still tried.
 */
async function freePortBase(): Promise<number> {
  const range = await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').catch(() => '32768 60999');
  const ephemeralFrom = Number(range.trim().split(/\s+/)[0]) || 32_768;
  const top = Math.max(10_004, ephemeralFrom - 4);
  for (;;) {
    const base = 10_000 + Math.floor(Math.random() * (top - 10_000));
    const servers = await Promise.all([0, 1, 2, 3].map((offset) => listen(base + offset).catch(() => undefined)));
    await Promise.all(servers.map((server) => server && close(server)));
    if (servers.every((server) => server !== undefined)) return base;
  }
}

describe('Command: sluice dev', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-dev-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('drains the bundled samples with --once and reports every item published or dead-lettered, none lost', async () => {
    // Act
    const report = join(dir, 'report.json');
    const outputs = join(dir, 'outputs.json');
    const { stdout } = await run(
      process.execPath,
      [
        SLUICE,
        'dev',
        '--once',
        '--report',
        report,
        '--outputs',
        outputs,
        '--latency',
        '0',
        '--data-dir',
        join(dir, 'data'),
      ],
      { cwd: dir, env: { ...process.env, OPENAI_API_KEY: '' }, timeout: 240_000 },
    );

    // Assess: the report
    const summary = JSON.parse(await readFile(report, 'utf8'));
    expect(summary.items.lost).toBe(0);
    expect(summary.items.byState.PUBLISHED).toBe(50);
    expect(summary.items.byState.DEAD_LETTER).toBe(3);
    expect(
      summary.deadLetters.every(
        (d: { messageInDlq: boolean; errorClass: string }) => d.messageInDlq && d.errorClass === 'InvalidItemError',
      ),
    ).toBe(true);
    expect(summary.llm.byStage.extract.calls).toBe(50);
    expect(summary.llm.byStage.draft.calls).toBeGreaterThanOrEqual(100);
    expect(summary.llm.costUsd).toBeGreaterThan(0);
    expect(summary.llm.byStageAndModel.map((row: { stage: string }) => row.stage).sort()).toEqual(['draft', 'extract']);

    // Assess: the metrics read back from the functions' EMF tell the state table's story exactly
    expect(summary.metrics.llm.calls).toBe(summary.llm.calls);
    expect(summary.metrics.llm.promptTokens).toBe(summary.llm.promptTokens);
    expect(summary.metrics.llm.completionTokens).toBe(summary.llm.completionTokens);
    expect(summary.metrics.llm.costUsd).toBeCloseTo(summary.llm.costUsd, 9);
    expect(summary.metrics.items.published).toBe(50);
    expect(summary.metrics.items.deadLettered).toBe(3);

    // Assess: what the user sees, and the outputs file any SDK client can use
    expect(stdout).toMatch(/intake queue\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(stdout).toMatch(/items: 53 total, 50 published, 3 dead-lettered, 0 lost/);
    expect(stdout).toMatch(/LLM figures match the state table/);
    const written = JSON.parse(await readFile(outputs, 'utf8'));
    expect(Object.keys(written.Sluice)).toEqual(
      expect.arrayContaining([
        'IntakeQueueUrl',
        'PublishedQueueUrl',
        'StateTableName',
        'LocalSqsEndpoint',
        'LocalDynamoDbEndpoint',
      ]),
    );
    // As long as the run may take on a busy machine (the command's own limit), not the default.
  }, 240_000);

  it('on a restart over the same data dir, compares the metrics of this run with the usage this run added', async () => {
    // Act: the first test's data dir, every item settled, nothing new
    const { stdout } = await run(
      process.execPath,
      [SLUICE, 'dev', '--once', '--no-samples', '--outputs', join(dir, 'again.json'), '--data-dir', join(dir, 'data')],
      { cwd: dir, env: { ...process.env, OPENAI_API_KEY: '' }, timeout: 240_000 },
    );

    // Assess: the items are the table's, the calls this run's (none), the earlier runs' told apart
    expect(stdout).toMatch(/^items: 53 total, 50 published, 3 dead-lettered, 0 lost$/m);
    expect(stdout).toMatch(/^llm \(this run\): 0 calls, 0 prompt \+ 0 completion tokens, \$0\.0000$/m);
    expect(stdout).toMatch(/^llm \(every run in the state table\): [1-9]\d+ calls/m);
    expect(stdout).toMatch(
      /LLM figures match the state table \(this run's calls: 0 in the metrics, 0 in the usage rows\)/,
    );
    expect(stdout).not.toMatch(/DO NOT match/);
  }, 240_000);

  it('refuses bad options with exit code 2 and names the option', async () => {
    // Act
    const failure = await run(process.execPath, [SLUICE, 'dev', '--latency', 'fast'], { cwd: dir }).catch(
      (error) => error,
    );

    // Assess
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--latency must be MS or MIN-MAX/);
  });

  it('prints the effective config, cdk.json under --config under each --set, and starts nothing', async () => {
    // Prepare
    const file = join(dir, 'local.json');
    await writeFile(file, JSON.stringify({ dailyBudgetUsd: 5, stages: { draft: { maxRevisions: 1 } } }));

    // Act
    const run = await runCli([
      'dev',
      '--print-config',
      '--config',
      file,
      '--set',
      'dailyBudgetUsd=2.5',
      '--set',
      'llm.fallbackModel=gpt-4o-mini',
      '--set',
      'supervisor.enabled=false',
    ]);

    // Assess: the settings merged in order, cdk.json's and the defaults kept elsewhere
    expect(run.code).toBe(0);
    const config = jsonOf<SluiceConfig>(run);
    expect(config.dailyBudgetUsd).toBe(2.5);
    expect(config.llm).toEqual({ timeoutSeconds: 60, learnMaxTokens: true, fallbackModel: 'gpt-4o-mini' });
    expect(config.supervisor.enabled).toBe(false);
    expect(config.stages.draft).toMatchObject({ maxRevisions: 1, model: 'gpt-4.1-mini', timeoutSeconds: 300 });
    expect(config.stages.extract?.maxConcurrency).toBe(5);
    expect(run.stdout).not.toMatch(/starting the emulators|endpoint/);
  });

  it('refuses a wrong setting with exit code 2, naming the key, the problem and where it was set', async () => {
    // Prepare
    const file = join(dir, 'wrong.json');
    await writeFile(file, JSON.stringify({ stages: { extract: { batchSize: 11 } } }));
    const notJson = join(dir, 'not.json');
    await writeFile(notJson, '{ "dailyBudgetUsd": 5, }');

    // Act
    const fromFile = await runCli(['dev', '--print-config', '--config', file]);
    const fromSet = await runCli(['dev', '--print-config', '--set', 'stages.draft.modle=gpt-4o-mini']);
    const badSet = await runCli(['dev', '--print-config', '--set', 'dailyBudgetUsd']);
    const badFile = await runCli(['dev', '--print-config', '--config', notJson]);
    const noFile = await runCli(['dev', '--print-config', '--config', join(dir, 'absent.json')]);

    // Assess
    for (const run of [fromFile, fromSet, badSet, badFile, noFile]) {
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr.split('\n')[0]).toMatch(/^sluice dev: /);
    }
    expect(fromFile.stderr).toContain(
      `stages.extract.batchSize must be between 1 and 10 (got 11) (set by --config ${file})`,
    );
    expect(fromSet.stderr).toContain(
      'stages.draft has unknown key(s) "modle" (set by --set stages.draft.modle=gpt-4o-mini)',
    );
    expect(badSet.stderr).toContain('--set "dailyBudgetUsd" must be key.path=value');
    expect(badFile.stderr).toContain(`--config file ${notJson} is not JSON`);
    expect(noFile.stderr).toContain(`cannot read --config file ${join(dir, 'absent.json')}`);
  });

  it('listens on fixed ports from --port-base, so two starts give the same queue URLs', async () => {
    // Prepare
    const base = await freePortBase();
    const start = async (name: string) => {
      const outputs = join(dir, `${name}.json`);
      const { stdout } = await run(
        process.execPath,
        [SLUICE, 'dev', '--once', '--no-samples', '--port-base', String(base), '--outputs', outputs],
        { cwd: dir, env: { ...process.env, OPENAI_API_KEY: '' }, timeout: 120_000 },
      );
      return { stdout, outputs: JSON.parse(await readFile(outputs, 'utf8')).Sluice as Record<string, string> };
    };

    // Act
    const first = await start('first');
    const second = await start('second');

    // Assess: every endpoint on its port of the base, the queue URLs equal across the two starts
    expect(first.outputs.LocalSqsEndpoint).toBe(`http://127.0.0.1:${base}`);
    expect(first.outputs.LocalDynamoDbEndpoint).toBe(`http://127.0.0.1:${base + 1}`);
    expect(first.outputs.LocalLambdaEndpoint).toBe(`http://127.0.0.1:${base + 2}`);
    expect(first.outputs.LocalSecretsManagerEndpoint).toBe(`http://127.0.0.1:${base + 2}`);
    expect(first.stdout).toContain(`simulator at http://127.0.0.1:${base + 3}/v1`);
    expect(first.outputs.IntakeQueueUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${base}/`));
    const queues = (outputs: Record<string, string>) =>
      Object.fromEntries(Object.entries(outputs).filter(([key]) => key.endsWith('QueueUrl')));
    expect(Object.keys(queues(first.outputs)).length).toBeGreaterThanOrEqual(6);
    expect(queues(second.outputs)).toEqual(queues(first.outputs));
    expect(second.outputs).toEqual(first.outputs);
  }, 240_000);

  it('refuses a port base with a taken port, exit code 2, naming the port and who needed it', async () => {
    // Prepare: something else listens where DynamoDB would
    const base = await freePortBase();
    const squatter = await listen(base + 1);

    // Act
    const failure = await run(
      process.execPath,
      [SLUICE, 'dev', '--once', '--no-samples', '--port-base', String(base)],
      {
        cwd: dir,
        env: { ...process.env, OPENAI_API_KEY: '' },
        timeout: 120_000,
      },
    )
      .catch((error) => error)
      .finally(() => close(squatter));
    const outOfRange = await runCli(['dev', '--port-base', '65534']);

    // Assess
    expect(failure.code).toBe(2);
    expect(failure.stderr.split('\n')[0]).toBe(
      `sluice dev: --port-base ${base}: port ${base + 1} (DynamoDB, port base + 1) is taken by another process: ` +
        "stop it (another 'sluice dev'?) or choose another port base",
    );
    expect(outOfRange.code).toBe(2);
    expect(outOfRange.stderr).toMatch(/--port-base must be a whole number from 1024 to 65532/);
  }, 240_000);
});
