import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteSecretCommand, RestoreSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteQueueCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorCheck, DoctorReport } from '#cli/doctor/check.ts';
import { renderDoctorReport } from '#cli/doctor/command.ts';
import { runDoctorChecks, runPreDeployChecks } from '#cli/doctor/runner.ts';
import { PIPELINE } from '#functions/pipeline.ts';
import { loadConfig } from '#lib/config.ts';
import { OPTIONAL_STACK_OUTPUT_KEYS, STACK_NAME, STACK_OUTPUT_KEYS } from '#lib/outputs.ts';
import { pauseStage } from '#ops/stage-switch.ts';
import { LANE_NAMES, type Lane, type LaneName, resolveTarget, type Target } from '#ops/target.ts';
import { type CallRecord, type LlmSimulator, startLlmSimulator } from '#sim/server.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

/**
 * `sluice doctor` against the local runtime: a healthy stack, a DLQ holding a message, a stack broken three ways
 * (a queue deleted, the API key secret deleted, a stage paused), and endpoints that never answer.
 */

describe('Command: sluice doctor', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  const providerCalls: CallRecord[] = [];

  const doctor = async (...args: string[]) => {
    const json = await runCli(['doctor', '--json', '--outputs', outputs, ...args]);
    const text = await runCli(['doctor', '--outputs', outputs, ...args]);
    return { json, text, report: jsonOf<DoctorReport>(json) };
  };
  const check = (report: DoctorReport, name: DoctorCheck['name']) => report.checks.find((c) => c.name === name);

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0, onCall: (call) => providerCalls.push(call) } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-doctor-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('checks for exactly the outputs the stack defines', () => {
    const known: readonly string[] = [...STACK_OUTPUT_KEYS, ...OPTIONAL_STACK_OUTPUT_KEYS];
    expect(Object.keys(pipeline.outputs)).toEqual(expect.arrayContaining([...STACK_OUTPUT_KEYS]));
    expect(Object.keys(pipeline.outputs).filter((key) => !known.includes(key))).toEqual([]);
  });

  it('finds a healthy local stack healthy: exit 0, every check ok or skipped', async () => {
    // Act
    const { json, text, report } = await doctor();

    // Assess: the JSON
    expect(json.code).toBe(0);
    expect(report.healthy).toBe(true);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['outputs', 'ok'],
      ['queues', 'ok'],
      ['tables', 'ok'],
      ['permissions', 'skipped'],
      ['secret', 'ok'],
      ['provider', 'ok'],
      ['alarms', 'skipped'],
      ['event-sources', 'ok'],
      ['concurrency', 'skipped'],
    ]);
    expect(check(report, 'permissions')?.detail).toMatch(/^no IAM locally/);
    expect(check(report, 'alarms')?.detail).toBe('CloudWatch does not run locally');
    expect(check(report, 'secret')?.detail).toContain(pipeline.outputs.ApiKeySecretArn);
    expect(JSON.stringify(report)).not.toContain('sluice-local-simulator');
    expect(check(report, 'provider')?.detail).toMatch(/gpt-4o-mini \(stages\.extract\.model\) in \d+ ms/);
    expect(check(report, 'provider')?.detail).toMatch(/gpt-4\.1-mini \(stages\.draft\.model\) in \d+ ms/);
    // One one-token probe per model and run, sent as the doctor.
    const probes = providerCalls.filter((call) => call.caller === 'doctor');
    expect(probes.map((call) => call.model).sort()).toEqual([
      'gpt-4.1-mini',
      'gpt-4.1-mini',
      'gpt-4o-mini',
      'gpt-4o-mini',
    ]);
    expect(probes.every((call) => call.completionTokens <= 1)).toBe(true);

    // Assess: the text, off a terminal (plain words)
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^sluice doctor: ${STACK_NAME} \\(local, outputs file .*\\)$`, 'm'));
    expect(text.stdout).toMatch(/^ok\s+queues\s+6 queues exist; intake, draft, published redrive to their DLQs/m);
    expect(text.stdout).toMatch(/^skipped\s+alarms\s+CloudWatch does not run locally$/m);
    expect(text.stdout).toMatch(/^healthy: 6 checks ok, 3 skipped$/m);
    expect(text.stdout).not.toMatch(/PROBLEM|fix:/);
  });

  it('reports a DLQ holding messages, with sluice redrive as the fix', async () => {
    // Prepare
    await pipeline.dev.sqs.send(
      new SendMessageCommand({ QueueUrl: pipeline.outputs.DraftDeadLetterQueueUrl, MessageBody: '{"itemId":"x"}' }),
    );

    // Act
    const { json, report } = await doctor();

    // Assess
    expect(json.code).toBe(1);
    expect(check(report, 'queues')).toMatchObject({
      status: 'problem',
      problems: [
        {
          problem: 'the draft DLQ holds 1 message: items dead-lettered in the draft stage',
          fix: expect.stringMatching(/docs\/runbook\.md#dlq-has-messages.*then: sluice redrive --stage draft$/),
        },
      ],
    });
  });

  it('reports an API key secret scheduled for deletion, with restore-secret as the fix', async () => {
    // Prepare
    const secrets = new SecretsManagerClient(pipeline.dev.local.clientConfig('secretsmanager'));
    const secretArn = pipeline.outputs.ApiKeySecretArn ?? '';
    await secrets.send(new DeleteSecretCommand({ SecretId: secretArn, RecoveryWindowInDays: 7 }));

    // Act
    try {
      const { report } = await doctor();

      // Assess
      expect(check(report, 'secret')).toMatchObject({
        status: 'problem',
        detail: `the API key secret ${secretArn} is scheduled for deletion`,
        fix: expect.stringMatching(new RegExp(`secretsmanager restore-secret --secret-id ${secretArn}$`)),
      });
    } finally {
      await secrets.send(new RestoreSecretCommand({ SecretId: secretArn }));
      secrets.destroy();
    }
  });

  it('names each problem of a broken stack and its fix: a queue deleted, the secret deleted, a stage paused', async () => {
    // Prepare: the intake queue itself is gone, so the doctor must start without it
    await pipeline.dev.sqs.send(new DeleteQueueCommand({ QueueUrl: pipeline.outputs.IntakeQueueUrl }));
    const secrets = new SecretsManagerClient(pipeline.dev.local.clientConfig('secretsmanager'));
    await secrets.send(
      new DeleteSecretCommand({ SecretId: pipeline.outputs.ApiKeySecretArn, ForceDeleteWithoutRecovery: true }),
    );
    secrets.destroy();
    const target = await resolveTarget({ outputs, reachOnly: true });
    try {
      await pauseStage(target, 'extract', { by: 'operator', reason: 'provider outage', now: Date.now() });
    } finally {
      target.close();
    }
    // The draft DLQ's message of the previous test is still there.
    const probesBefore = providerCalls.length;

    // Act
    const { json, text, report } = await doctor();

    // Assess: the JSON names each problem and its fix
    expect(json.code).toBe(1);
    expect(report.healthy).toBe(false);
    const queues = check(report, 'queues');
    expect(queues?.status).toBe('problem');
    expect(queues?.problems).toContainEqual({
      problem: `the intake queue ${pipeline.outputs.IntakeQueueUrl} does not exist`,
      fix: "restart 'sluice dev': it creates every queue the stack defines",
    });
    expect(check(report, 'secret')).toMatchObject({
      status: 'problem',
      detail: `the API key secret ${pipeline.outputs.ApiKeySecretArn} does not exist`,
      fix: "restart 'sluice dev': it creates the secret with the key at start",
    });
    expect(check(report, 'provider')).toMatchObject({
      status: 'skipped',
      detail: expect.stringMatching(/^no call made without the API key: see the secret check$/),
    });
    expect(providerCalls.length).toBe(probesBefore);
    expect(check(report, 'event-sources')).toMatchObject({
      status: 'problem',
      detail: expect.stringMatching(
        /^the extract stage is paused: its event source mapping \S+ is Disabl\w+; paused by operator at .*Z: provider outage$/,
      ),
      fix: 'sluice resume extract',
    });
    expect(check(report, 'tables')?.status).toBe('ok');

    // Assess: the text has a problem and a fix line under each failure, and the summary
    expect(text.code).toBe(1);
    const lines = text.stdout.split('\n');
    const under = (heading: RegExp) => {
      const at = lines.findIndex((line) => heading.test(line));
      return lines.slice(at + 1, at + 5).join('\n');
    };
    expect(lines).toContainEqual(expect.stringMatching(/^PROBLEM\s+queues\s+2 problems$/));
    expect(under(/^PROBLEM\s+queues/)).toContain(
      `problem: the intake queue ${pipeline.outputs.IntakeQueueUrl} does not exist`,
    );
    expect(under(/^PROBLEM\s+queues/)).toContain("fix: restart 'sluice dev': it creates every queue the stack defines");
    expect(under(/^PROBLEM\s+secret/)).toMatch(
      /problem: the API key secret \S+ does not exist\n\s+fix: restart 'sluice dev'/,
    );
    expect(under(/^PROBLEM\s+event-sources/)).toMatch(
      /problem: the extract stage is paused: .*provider outage\n\s+fix: sluice resume extract/,
    );
    expect(text.stdout).toMatch(/^skipped\s+provider\s+no call made without the API key: see the secret check$/m);
    expect(text.stdout).toMatch(/^4 problems in 3 of 9 checks \(2 ok, 4 skipped\)$/m);
  });

  it('names the endpoint that does not answer once its time limit has passed', async () => {
    // Prepare: the Lambda and Secrets Manager endpoints of a copy of the outputs accept requests and never answer
    const hanging: Server = createServer(() => undefined);
    // The doctor's requests reached it: its own time limit, not a refused connection, ended those checks. (How long
    // the run took is the machine's load as much as the limit, so it is not measured.)
    let requests = 0;
    hanging.on('request', () => {
      requests += 1;
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const silent = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    const file = JSON.parse(await readFile(outputs, 'utf8')) as Record<string, Record<string, string>>;
    const stalled = join(dir, 'stalled.json');
    await writeFile(
      stalled,
      JSON.stringify({
        [STACK_NAME]: { ...file[STACK_NAME], LocalLambdaEndpoint: silent, LocalSecretsManagerEndpoint: silent },
      }),
    );

    try {
      // Act
      const run = await runCli(['doctor', '--json', '--timeout', '0.5', '--outputs', stalled]);

      // Assess
      expect(run.code).toBe(1);
      const report = jsonOf<DoctorReport>(run);
      for (const name of ['secret', 'event-sources'] as const) {
        expect(check(report, name)).toMatchObject({
          status: 'problem',
          detail: `timed out after 0.5 s waiting for ${silent}`,
          fix: expect.stringContaining("check that 'sluice dev' is running and responsive"),
        });
      }
      expect(check(report, 'tables')?.status).toBe('ok');
      expect(requests).toBeGreaterThan(0);
    } finally {
      hanging.closeAllConnections();
      await new Promise((resolve) => hanging.close(resolve));
    }
  });

  it('explains itself with --help and refuses bad usage with exit code 2', async () => {
    // Act
    const help = await runCli(['doctor', '--help']);
    const badTimeout = await runCli(['doctor', '--timeout', '0', '--outputs', outputs]);
    const extra = await runCli(['doctor', 'queues', '--outputs', outputs]);

    // Assess
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: sluice doctor \[--timeout SECONDS\]/);
    expect(help.stdout).toMatch(/sluice doctor --stack Sluice --region eu-west-1/);
    expect(badTimeout.code).toBe(2);
    expect(badTimeout.stderr).toMatch(/--timeout must be a number above 0 and at most 300 \(got 0\)/);
    expect(extra.code).toBe(2);
    expect(extra.stderr).toMatch(/unexpected argument 'queues'/);
  });
});

/** An SDK client whose requests never leave the process: `answer` gets each command's name and input. */
function stubbed<C extends { middlewareStack: object }>(
  client: C,
  answer: (command: string, input: Record<string, unknown>) => unknown,
): C {
  (client.middlewareStack as unknown as { add: (middleware: unknown, options: unknown) => void }).add(
    (_next: unknown, context: { commandName?: string }) => async (args: { input: Record<string, unknown> }) => ({
      output: { $metadata: {}, ...(answer(context.commandName ?? '', args.input) as object) },
      response: {},
    }),
    { step: 'initialize', name: 'doctorTestStub' },
  );
  return client;
}

const denied = (action: string) =>
  Object.assign(
    new Error(`User: arn:aws:iam::123456789012:user/ops is not authorized to perform: ${action} on resource: x`),
    { name: 'AccessDenied' },
  );

describe('Function: runDoctorChecks, on AWS (SDK clients stubbed in process)', () => {
  const region = 'eu-west-1';
  const account = '123456789012';
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${account}:${resource}`;
  const prefix: Record<LaneName, string> = { extract: 'Intake', draft: 'Draft', published: 'Published' };
  const queueUrl = (name: string) => `https://sqs.${region}.amazonaws.com/${account}/${name}`;
  let simulator: LlmSimulator;
  let target: Target;
  let cloudformation: CloudFormationClient;
  let iam: IAMClient;
  const simulated: Record<string, unknown>[] = [];

  beforeAll(async () => {
    // The provider knows the extract model only: the draft stage's model gets a 404.
    simulator = await startLlmSimulator({ models: ['gpt-4o-mini'] });
    const outputs: Record<string, string> = {
      StateTableName: 'Sluice-State',
      MemoryTableName: 'Sluice-Memory',
      ApiKeySecretArn: arn('secretsmanager', 'secret:ApiKey-AbC123'),
      ExtractFunctionName: 'Sluice-Extract',
      DraftFunctionName: 'Sluice-Draft',
      ExtractEventSourceMappingId: 'mapping-extract',
      DraftEventSourceMappingId: 'mapping-draft',
      AlarmTopicArn: arn('sns', 'Alarms'),
      DashboardName: `Sluice-${region}`,
    };
    for (const name of LANE_NAMES) {
      for (const kind of ['Queue', 'DeadLetterQueue']) {
        outputs[`${prefix[name]}${kind}Url`] = queueUrl(`${prefix[name]}${kind}`);
        outputs[`${prefix[name]}${kind}Arn`] = arn('sqs', `${prefix[name]}${kind}`);
      }
    }
    const lanes = Object.fromEntries(
      LANE_NAMES.map((name): [LaneName, Lane] => [
        name,
        {
          name,
          queue: {
            label: name === 'extract' ? 'intake' : name,
            url: outputs[`${prefix[name]}QueueUrl`] ?? '',
            arn: outputs[`${prefix[name]}QueueArn`],
          },
          deadLetterQueue: {
            label: `${name === 'extract' ? 'intake' : name} DLQ`,
            url: outputs[`${prefix[name]}DeadLetterQueueUrl`] ?? '',
            arn: outputs[`${prefix[name]}DeadLetterQueueArn`],
          },
        },
      ]),
    ) as Record<LaneName, Lane>;
    const config = { region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

    const sqs = stubbed(new SQSClient(config), (_command, input) => {
      const url = String(input.QueueUrl);
      if (url.endsWith('/IntakeQueue')) throw denied('sqs:getqueueattributes');
      const name = url.split('/').at(-1) ?? '';
      const dlq = name.replace('Queue', 'DeadLetterQueue');
      return {
        Attributes: {
          QueueArn: arn('sqs', name),
          ApproximateNumberOfMessages: '0',
          ApproximateNumberOfMessagesNotVisible: '0',
          ...(name.includes('DeadLetter')
            ? {}
            : { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn('sqs', dlq), maxReceiveCount: 5 }) }),
        },
      };
    });
    const dynamo = DynamoDBDocumentClient.from(
      stubbed(new DynamoDBClient(config), (command) =>
        command === 'DescribeTableCommand' ? { Table: { TableStatus: 'ACTIVE', GlobalSecondaryIndexes: [] } } : {},
      ),
    );
    const runtimeConfig = (stage: string, model: string) =>
      JSON.stringify({ stage, model, llm: { baseUrl: simulator.url, timeoutMs: 60_000 } });
    const lambda = stubbed(new LambdaClient(config), (command, input) => {
      if (command === 'GetEventSourceMappingCommand') return { UUID: input.UUID, State: 'Enabled', BatchSize: 1 };
      // A quota of 20: the stack's 9 leave 11 unreserved, and a deploy gives them back before reserving them again.
      if (command === 'GetAccountSettingsCommand') {
        return { AccountLimit: { ConcurrentExecutions: 20, UnreservedConcurrentExecutions: 11 } };
      }
      if (command === 'GetFunctionConcurrencyCommand') {
        return { ReservedConcurrentExecutions: { 'Sluice-Extract': 5, 'Sluice-Draft': 3 }[String(input.FunctionName)] };
      }
      const stage = input.FunctionName === 'Sluice-Extract' ? 'extract' : 'draft';
      return {
        FunctionName: input.FunctionName,
        Role: `arn:aws:iam::${account}:role/${stage}-role`,
        Environment: {
          Variables: {
            SLUICE_RUNTIME_CONFIG: runtimeConfig(stage, stage === 'extract' ? 'gpt-4o-mini' : 'gpt-4.1-mini'),
          },
        },
      };
    });
    const secrets = stubbed(new SecretsManagerClient(config), () => ({
      ARN: outputs.ApiKeySecretArn,
      SecretString: '{"apiKey":"sk-test"}',
    }));
    const alarm = (name: string, state: string) => ({
      AlarmName: name,
      StateValue: state,
      StateReason:
        state === 'ALARM' ? 'Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0).' : '',
      StateUpdatedTimestamp: new Date('2026-11-21T08:55:12Z'),
      AlarmDescription: 'A DLQ has messages.\n\nRunbook: https://example.com/runbook#dlq-has-messages',
    });
    const cloudwatch = stubbed(new CloudWatchClient(config), () => ({
      // Another stack's alarm shares the name prefix: not this stack's to report.
      MetricAlarms: [
        alarm('Sluice-Intake-DLQ', 'ALARM'),
        alarm('Sluice-Draft-DLQ', 'OK'),
        alarm('SluiceStaging-Intake-DLQ', 'ALARM'),
      ],
    }));
    // The draft role lost its grant on the secret; everything else is allowed.
    iam = stubbed(new IAMClient(config), (_command, input) => {
      simulated.push(input);
      const actions = input.ActionNames as string[];
      const resources = input.ResourceArns as string[];
      return {
        IsTruncated: false,
        EvaluationResults: actions.map((action) => ({
          EvalActionName: action,
          EvalResourceName: resources.length === 1 ? resources[0] : '*',
          EvalDecision: 'allowed',
          ResourceSpecificResults: resources.map((resource) => ({
            EvalResourceName: resource,
            EvalResourceDecision:
              String(input.PolicySourceArn).endsWith('role/draft-role') && action === 'secretsmanager:GetSecretValue'
                ? 'implicitDeny'
                : 'allowed',
          })),
        })),
      };
    });
    cloudformation = stubbed(new CloudFormationClient(config), () => ({
      TemplateBody: JSON.stringify({
        Resources: Object.fromEntries(
          ['Sluice-Intake-DLQ', 'Sluice-Draft-DLQ', 'Sluice-Budget'].map((name, index) => [
            `Alarm${index}`,
            { Type: 'AWS::CloudWatch::Alarm', Properties: { AlarmName: name } },
          ]),
        ),
      }),
    }));
    target = {
      kind: 'aws',
      pipeline: PIPELINE,
      stackName: 'Sluice',
      source: 'CloudFormation stack Sluice',
      region,
      outputs,
      stateTableName: 'Sluice-State',
      lanes,
      sqs,
      dynamo,
      cloudwatch,
      lambda,
      secrets,
      description: `Sluice (AWS ${region}, CloudFormation stack Sluice)`,
      close: () => undefined,
    };
  });

  afterAll(async () => {
    await simulator?.stop();
  });

  it('reports an API key secret the operator may not read, naming the action and who lacks it', async () => {
    // Prepare: the same stack, its secret denied to the operator's credentials
    const secrets = stubbed(
      new SecretsManagerClient({ region, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
      () => {
        throw denied('secretsmanager:GetSecretValue');
      },
    );

    // Act
    const report = await runDoctorChecks({ ...target, secrets }, { timeoutMs: 5000, cloudformation, iam });

    // Assess
    expect(report.checks.find((c) => c.name === 'secret')?.problems).toEqual([
      {
        problem: `the operator's credentials (arn:aws:iam::${account}:user/ops) may not call secretsmanager:GetSecretValue on ${target.outputs.ApiKeySecretArn}`,
        fix: `grant secretsmanager:GetSecretValue on ${target.outputs.ApiKeySecretArn} to arn:aws:iam::${account}:user/ops (docs/cli.md lists what the commands need)`,
      },
    ]);
  });

  it('reports what only AWS has: alarms missing or firing, a permission a stage role lacks, an access the operator lacks', async () => {
    // Act
    const report = await runDoctorChecks(target, { timeoutMs: 5000, cloudformation, iam });

    // Assess
    const byName = (name: DoctorCheck['name']) => report.checks.find((c) => c.name === name);
    expect(report.healthy).toBe(false);
    expect(byName('outputs')?.status).toBe('ok');
    expect(byName('queues')?.problems).toEqual([
      {
        problem: `the operator's credentials (arn:aws:iam::${account}:user/ops) may not call sqs:GetQueueAttributes on ${arn('sqs', 'IntakeQueue')}`,
        fix: expect.stringMatching(/^grant sqs:GetQueueAttributes on \S+ to arn:aws:iam::\d+:user\/ops/),
      },
    ]);
    expect(byName('permissions')?.problems).toEqual([
      {
        problem: `the draft function's role arn:aws:iam::${account}:role/draft-role may not secretsmanager:GetSecretValue on ${target.outputs.ApiKeySecretArn} (implicitDeny)`,
        fix: 'deploy the stack again: npx cdk deploy (its grants give the draft stage reading the API key secret)',
      },
    ]);
    expect(simulated).toContainEqual({
      PolicySourceArn: `arn:aws:iam::${account}:role/extract-role`,
      ActionNames: ['sqs:SendMessage'],
      ResourceArns: [arn('sqs', 'DraftQueue'), arn('sqs', 'IntakeDeadLetterQueue'), arn('sqs', 'IntakeQueue')],
    });
    expect(byName('secret')?.status).toBe('ok');
    expect(byName('provider')?.problems).toEqual([
      {
        problem: `${simulator.url} does not know the model 'gpt-4.1-mini' (stages.draft.model): 404`,
        fix: 'set stages.draft.model in cdk.json to a model the provider serves (with its price), then deploy again (npx cdk deploy)',
      },
    ]);
    expect(byName('alarms')?.problems).toEqual([
      {
        problem: "1 of the stack's 3 alarms do not exist: Sluice-Budget",
        fix: 'deploy the stack again: npx cdk deploy',
      },
      {
        problem:
          'Sluice-Intake-DLQ is in ALARM since 2026-11-21 08:55:12Z: Threshold Crossed: 1 datapoint [3.0] was greater than the threshold (0.0).',
        fix: 'follow its runbook section: https://example.com/runbook#dlq-has-messages',
      },
    ]);
    expect(byName('event-sources')?.status).toBe('ok');
    // The outputs name no supervisor: the stack reserves 8 of the 9 cdk.json asks for, and 11 + 8 - 9 = 10 stay free.
    expect(byName('concurrency')).toMatchObject({
      status: 'ok',
      detail:
        "the stack reserves 9 concurrent executions (extract 5, draft 3, supervisor 1); the account's quota in eu-west-1 is 20, 11 unreserved, so 10 stay unreserved after a deploy (at least 10)",
    });

    // Assess: on a terminal, marks instead of words
    const text = renderDoctorReport(report, target.description, true).join('\n');
    expect(text).toMatch(/^✗ alarms\s+2 problems$/m);
    expect(text).toMatch(/^✗ permissions\s+1 problem$/m);
    expect(text).toMatch(/^✓ secret\s+the API key secret \S+ holds a key \(not shown\)$/m);
    expect(text).not.toContain('sk-test');
  });
});

describe('Function: runPreDeployChecks, before the first deploy (Lambda stubbed in process)', () => {
  const config = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };
  const lambdaWith = (limit: number, unreserved: number) =>
    stubbed(new LambdaClient(config), (command) => {
      if (command !== 'GetAccountSettingsCommand') throw new Error(`unexpected ${command}`);
      return { AccountLimit: { ConcurrentExecutions: limit, UnreservedConcurrentExecutions: unreserved } };
    });

  it("says a new account's quota of 10 has no room for the 9 the defaults reserve, and which setting turns it off", async () => {
    // Act
    const report = await runPreDeployChecks(lambdaWith(10, 10), { timeoutMs: 5000, config: loadConfig({}) });

    // Assess
    expect(report.healthy).toBe(false);
    expect(report.checks).toEqual([
      {
        name: 'concurrency',
        status: 'problem',
        detail: expect.any(String),
        fix: expect.any(String),
        problems: [
          {
            problem:
              "the stack reserves 9 concurrent executions (extract 5, draft 3, supervisor 1), but the account's quota in us-east-1 is 10, 10 unreserved and Lambda keeps 10 unreserved: at most 0 can be reserved, so 'cdk deploy' fails with \"UnreservedConcurrentExecution below its minimum value of [10]\"",
            fix: expect.stringMatching(/^set "reservedConcurrencyEnabled": false in the sluice context of cdk\.json /),
          },
        ],
      },
    ]);
    expect(report.checks[0]?.fix).toMatch(/ask AWS for a higher Lambda concurrent executions quota in us-east-1/);
  });

  it('finds room with reservedConcurrencyEnabled false in the same account', async () => {
    // Act
    const report = await runPreDeployChecks(lambdaWith(10, 10), {
      timeoutMs: 5000,
      config: loadConfig({ reservedConcurrencyEnabled: false }),
    });

    // Assess
    expect(report.healthy).toBe(true);
    expect(report.checks[0]?.detail).toBe(
      "the stack reserves no concurrency (reservedConcurrencyEnabled is false); the account's quota in us-east-1 is 10, 10 unreserved, so 10 stay unreserved after a deploy (at least 10)",
    );
  });

  it.each([
    [1000, 1000, true],
    [19, 19, true],
    [18, 18, false],
    // Other functions reserve 35 of 50: 15 unreserved leave room for 5, and the stages need at least 2 each.
    [50, 15, false],
  ])('with a quota of %i, %i unreserved, says the defaults fit: %s', async (limit, unreserved, fits) => {
    // Act
    const report = await runPreDeployChecks(lambdaWith(limit, unreserved), { timeoutMs: 5000, config: loadConfig({}) });

    // Assess
    expect(report.healthy).toBe(fits);
    expect(report.checks[0]?.status).toBe(fits ? 'ok' : 'problem');
  });

  it('names the permission the operator lacks to read the account settings', async () => {
    // Prepare
    const lambda = stubbed(new LambdaClient(config), () => {
      throw denied('lambda:GetAccountSettings');
    });

    // Act
    const report = await runPreDeployChecks(lambda, { timeoutMs: 5000, config: loadConfig({}) });

    // Assess
    expect(report.checks[0]?.problems?.[0]?.fix).toMatch(/^grant lambda:GetAccountSettings to the IAM identity/);
  });

  it('explains --pre-deploy in --help and refuses it with a stack or an outputs file (exit code 2)', async () => {
    // Act
    const help = await runCli(['doctor', '--help']);
    const withStack = await runCli(['doctor', '--pre-deploy', '--stack', 'Sluice']);

    // Assess
    expect(help.stdout).toMatch(/^ {7}sluice doctor --pre-deploy \[--region REGION\]/m);
    expect(help.stdout).toMatch(/reservedConcurrencyEnabled": false/);
    expect(withStack.code).toBe(2);
    expect(withStack.stderr).toMatch(
      /--pre-deploy checks the account before the stack exists: it takes no --outputs or --stack/,
    );
  });
});
