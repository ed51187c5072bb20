import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;
const TRACE = new URL('../support/module-trace.mjs', import.meta.url).pathname;

/** What only `dev` and `chaos` need: the CDK, the emulators, the simulator and the local runtime built on them. */
const HEAVY = [
  /\/node_modules\/aws-cdk-lib\//,
  /\/node_modules\/cdk-monitoring-constructs\//,
  /\/node_modules\/fauxqs\//,
  /\/node_modules\/dynalite\//,
  /\/sim\//,
  /\/lib\/sluice-stack\.ts$/,
  /\/local\/dev-runtime\.ts$/,
];

describe('Command: sluice', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-main-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The modules `sluice <args>` loaded, and how it exited. */
  async function modulesOf(name: string, args: string[]): Promise<{ modules: string[]; code: number }> {
    const trace = join(dir, `${name}.txt`);
    const env = { ...process.env, SLUICE_MODULE_TRACE: trace };
    const code = await run(process.execPath, ['--import', TRACE, SLUICE, ...args], { env }).then(
      () => 0,
      (error: { code?: number }) => error.code ?? -1,
    );
    return { modules: (await readFile(trace, 'utf8')).split('\n').filter(Boolean), code };
  }

  it.each([
    ['status --help', ['status', '--help'], 0],
    ['status --json', ['status', '--json', '--outputs', 'OUTPUTS'], 1],
  ])('loads neither the CDK nor the emulators for %s', async (name, args, exitCode) => {
    // Prepare: a local stack nobody runs, so the command fails at its first request
    const outputs = join(dir, 'outputs.json');
    const endpoint = 'http://127.0.0.1:9';
    await writeFile(
      outputs,
      JSON.stringify({
        Sluice: {
          IntakeQueueUrl: `${endpoint}/000000000000/IntakeQueue`,
          StateTableName: 'StateTable',
          LocalSqsEndpoint: endpoint,
          LocalDynamoDbEndpoint: endpoint,
          LocalRegion: 'us-east-1',
        },
      }),
    );

    // Act
    const { modules, code } = await modulesOf(
      name.replace(/\W+/g, '-'),
      args.map((arg) => arg.replace('OUTPUTS', outputs)),
    );

    // Assess
    expect(code).toBe(exitCode);
    expect(modules.some((url) => url.endsWith('/cli/status.ts'))).toBe(true);
    expect(modules.filter((url) => HEAVY.some((pattern) => pattern.test(url)))).toEqual([]);
  });

  it('refuses a command named like an Object method as unknown, with the usage', async () => {
    // Act
    const refused = await run(process.execPath, [SLUICE, 'toString']).catch((error) => error);

    // Assess
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^sluice: unknown command 'toString'\n\nUsage: sluice <command>/);
  });
});
