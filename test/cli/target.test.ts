import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './operator-support.ts';

const run = promisify(execFile);
const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;

/** Outputs as `sluice dev` writes them, pointing at `endpoint`. */
const localOutputs = (endpoint: string, extra: Record<string, string> = {}) => {
  const queues = Object.fromEntries(
    ['Intake', 'Draft', 'Published'].flatMap((prefix) => [
      [`${prefix}QueueUrl`, `${endpoint}/000000000000/${prefix}Queue`],
      [`${prefix}DeadLetterQueueUrl`, `${endpoint}/000000000000/${prefix}DeadLetterQueue`],
    ]),
  );
  return {
    ...queues,
    StateTableName: 'StateTable',
    LocalSqsEndpoint: endpoint,
    LocalDynamoDbEndpoint: endpoint,
    LocalRegion: 'us-east-1',
    ...extra,
  };
};

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('Operator commands: finding the stack', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-target-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('names the outputs file it could not read', async () => {
    // Act
    const result = await runCli(['status', '--outputs', join(dir, 'missing.json')]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^sluice status: cannot read the outputs file .*missing\.json: ENOENT/);
  });

  it('names the stacks a file has when it lacks the one asked for', async () => {
    // Prepare
    const file = join(dir, 'other.json');
    await writeFile(file, JSON.stringify({ Other: localOutputs('http://127.0.0.1:1') }));

    // Act
    const result = await runCli(['costs', '--outputs', file, '--stack', 'Sluice']);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/has no stack Sluice \(it has Other\)/);
  });

  it('says which output is missing from outputs that are not a sluice stack', async () => {
    // Prepare
    const file = join(dir, 'partial.json');
    const { StateTableName: _table, ...outputs } = localOutputs('http://127.0.0.1:1');
    await writeFile(file, JSON.stringify({ Sluice: outputs }));

    // Act
    const result = await runCli(['show', 'x', '--outputs', file]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/have no StateTableName: is it a sluice stack\?/);
  });

  it('says the local stack is not running when its endpoint does not answer', async () => {
    // Prepare
    const file = join(dir, 'stopped.json');
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    await writeFile(file, JSON.stringify({ Sluice: localOutputs(endpoint) }));

    // Act
    const result = await runCli(['redrive', '--outputs', file]);

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot reach the intake queue .* is 'sluice dev' running\?/);
    expect(result.stderr).toMatch(/ECONNREFUSED/);
  });

  it('tries the local outputs file, then CloudFormation, and names both when neither works', async () => {
    // Act: no outputs file here, no AWS region or credentials in the environment
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('AWS_')));
    const failure = await run(process.execPath, [SLUICE, 'status'], {
      cwd: dir,
      env: { ...env, HOME: dir, AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') },
      timeout: 30_000,
    }).catch((error: { code: number; stderr: string }) => error);

    // Assess
    expect('code' in failure && failure.code).toBe(1);
    expect('stderr' in failure && failure.stderr).toMatch(
      /no outputs file at \.sluice\/outputs\.json; CloudFormation stack Sluice with no AWS region set \(use --region\)/,
    );
  });
});

describe('Operator commands: usage', () => {
  it.each([
    [['enqueue'], /name the file of items to send/],
    [['enqueue', 'items.txt'], /cannot tell the format of items\.txt .* --format jsonl\|csv/],
    [['enqueue', 'a.jsonl', '--format', 'xml'], /--format must be jsonl, csv \(got xml\)/],
    [['status', 'now'], /unexpected argument 'now'/],
    [['status', '--interval', '0'], /--interval must be a number from 0.1 to 3600 \(got 0\)/],
    [['costs', '--by', 'week'], /--by must be stage, model, day \(got week\)/],
    [['costs', '--since', 'yesterday'], /--since must be YYYY-MM-DD/],
    [['costs', '--json', '--csv'], /--json and --csv exclude each other/],
    [['redrive', '--max', '0'], /--max must be a whole number ≥ 1/],
    [['reenrich', '--colour'], /Unknown option '--colour'/],
    [['show'], /name the item to show/],
  ])('refuses %j with exit code 2 and says why', async (argv, reason) => {
    // Act
    const result = await runCli(argv);

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(reason);
    expect(result.stderr).toMatch(/--help' for usage/);
  });

  it.each(['enqueue', 'status', 'show', 'costs', 'redrive', 'reenrich'])(
    'prints the help of %s with examples',
    async (command) => {
      // Act
      const viaFlag = await runCli([command, '--help']);
      const viaHelp = await runCli(['help', command]);

      // Assess
      expect(viaFlag.code).toBe(0);
      expect(viaFlag.stdout).toMatch(new RegExp(`^Usage: sluice ${command}`));
      expect(viaFlag.stdout).toMatch(/\nExamples:\n {2}sluice /);
      expect(viaFlag.stdout).toMatch(/--outputs FILE/);
      expect(viaHelp.stdout).toBe(viaFlag.stdout);
    },
  );

  it('lists the operator commands in the main help', async () => {
    // Act
    const result = await runCli(['--help']);

    // Assess
    for (const command of ['enqueue', 'status', 'show', 'costs', 'redrive', 'reenrich']) {
      expect(result.stdout).toMatch(new RegExp(`\\n {2}${command} +\\S`));
    }
  });
});
