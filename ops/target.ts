import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { PIPELINE } from '#functions/pipeline.ts';
import { LOCAL_OUTPUT_KEYS, localCredentials, queueOutputKeys, STACK_NAME } from '#lib/outputs.ts';
import { errorText } from '#shared/errors.ts';
import { type Pipeline, queueKeyOf, reenrichingStageOf } from '#shared/pipeline.ts';

/**
 * Where the operator commands act: a deployed stack (outputs from a `cdk deploy --outputs-file` file or from
 * CloudFormation) or the local runtime (the outputs file `sluice dev` writes, which also names the emulators'
 * endpoints). Resolved once into queue URLs, the state table and SDK clients, so every command works the same
 * against both.
 */

/** The outputs file `sluice dev` writes, used when neither `--outputs` nor `--stack` is given. */
const DEFAULT_OUTPUTS_FILE = '.sluice/outputs.json';

/**
 * The lanes of the pipeline sluice ships: each stage's input queue and the dead-letter queue it (or SQS's
 * redrive) fills, then the published queue. A target's own lanes are `target.pipeline.lanes`.
 */
export const LANE_NAMES = PIPELINE.lanes;
/** A lane: a stage's name, or `published`. */
export type LaneName = string;

export interface QueueRef {
  /** e.g. `intake` or `intake DLQ`. */
  readonly label: string;
  readonly url: string;
  /** From the outputs; absent in outputs files that lack the ARN keys. */
  readonly arn: string | undefined;
}

export interface Lane {
  readonly name: LaneName;
  readonly queue: QueueRef;
  readonly deadLetterQueue: QueueRef;
}

export interface Target {
  readonly kind: 'local' | 'aws';
  readonly stackName: string;
  /** Where the outputs came from, e.g. `outputs file .sluice/outputs.json` or `CloudFormation stack Sluice`. */
  readonly source: string;
  readonly region: string | undefined;
  readonly outputs: Readonly<Record<string, string>>;
  readonly stateTableName: string;
  /** The stages the stack runs (the pipeline sluice ships). */
  readonly pipeline: Pipeline;
  /** Every lane of the pipeline, by name, in the pipeline's order. */
  readonly lanes: Readonly<Record<LaneName, Lane>>;
  readonly sqs: SQSClient;
  readonly dynamo: DynamoDBDocumentClient;
  /** Only on AWS: the emulators have no CloudWatch. */
  readonly cloudwatch: CloudWatchClient | undefined;
  /**
   * The Lambda API the stages' event source mappings are read and changed through: AWS's, or locally the
   * runtime's control API (`LocalLambdaEndpoint`); undefined for a local outputs file that does not name one.
   */
  readonly lambda: LambdaClient | undefined;
  /**
   * Secrets Manager, where the LLM API key secret is: AWS's, or locally the runtime's
   * (`LocalSecretsManagerEndpoint`); undefined for a local outputs file that does not name one.
   */
  readonly secrets: SecretsManagerClient | undefined;
  /** One line naming the stack and where it runs, for reports. */
  readonly description: string;
  close(): void;
}

export interface TargetRequest {
  /** `--outputs FILE` */
  outputs?: string | undefined;
  /** `--stack NAME` */
  stack?: string | undefined;
  /** `--region REGION` */
  region?: string | undefined;
  /**
   * Only check that the SQS endpoint answers: an intake queue that does not exist, or that the credentials may
   * not read, is left for the command to report (`sluice doctor` diagnoses exactly that).
   */
  reachOnly?: boolean | undefined;
  /**
   * The stages the stack runs, for programs that deploy a pipeline of their own (the CLI has no option for it).
   * @default the pipeline sluice ships
   */
  pipeline?: Pipeline | undefined;
}

/** The target could not be found or reached; the message names what was tried. Exit code 1. */
export class TargetError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TargetError';
  }
}

/** `parseArgs` options every operator command accepts. @example parseArgs({ args, options: { ...TARGET_OPTIONS, max: { type: 'string' } } }) */
export const TARGET_OPTIONS = {
  outputs: { type: 'string' },
  stack: { type: 'string' },
  region: { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Help text of {@link TARGET_OPTIONS}, for the end of a command's options. @example `Options:\n  --max N ...\n${TARGET_HELP}` */
export const TARGET_HELP = `Target (every command):
  --outputs FILE       Outputs file as 'cdk deploy --outputs-file' or 'sluice dev' writes it
                       (default: ${DEFAULT_OUTPUTS_FILE} when it exists).
  --stack NAME         Read the outputs of this CloudFormation stack (default: ${STACK_NAME}), with the default
                       AWS credentials; with --outputs, the stack's entry in the file.
  --region REGION      AWS region (default: the SDK's, or the region in the outputs' queue ARNs).
  --json               Print JSON for scripts instead of text.
  -h, --help           Show this help.
`;

const outputsFileSchema = z.record(z.string(), z.record(z.string(), z.string()));

/**
 * Finds the stack's outputs and builds the clients: `--outputs FILE`, else `--stack NAME` from CloudFormation,
 * else the local outputs file when it exists, else the `Sluice` stack from CloudFormation. Checks that the
 * intake queue answers, so a stopped `sluice dev` or missing credentials fail here with a clear message.
 * @throws {TargetError} naming the file, stack and region tried.
 * @example
 * const target = await resolveTarget({ outputs: '.sluice/outputs.json' });
 * try { await target.sqs.send(...) } finally { target.close(); }
 */
export async function resolveTarget(request: TargetRequest, cwd = process.cwd()): Promise<Target> {
  const target = await locate(request, cwd);
  try {
    await target.sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: intakeLane(target).queue.url, AttributeNames: ['QueueArn'] }),
    );
  } catch (error) {
    if (request.reachOnly === true && answeredByService(error)) return target;
    target.close();
    const hint =
      target.kind === 'local'
        ? `: is 'sluice dev' running? (it writes ${target.source.replace(/^outputs file /, '')} each time it starts)`
        : ` in region ${target.region ?? '(the SDK default)'}: check the credentials, the region and that the stack is deployed`;
    throw new TargetError(
      `cannot reach the intake queue ${intakeLane(target).queue.url} of ${target.description}${hint} (${errorText(error)})`,
      { cause: error },
    );
  }
  return target;
}

async function locate(request: TargetRequest, cwd: string): Promise<Target> {
  const pipeline = request.pipeline ?? PIPELINE;
  if (request.outputs !== undefined) {
    return fromOutputsFile(resolve(cwd, request.outputs), request.outputs, request.stack, request.region, pipeline);
  }
  if (request.stack !== undefined) return fromCloudFormation(request.stack, request.region, [], pipeline);
  const local = resolve(cwd, DEFAULT_OUTPUTS_FILE);
  if (existsSync(local)) return fromOutputsFile(local, DEFAULT_OUTPUTS_FILE, undefined, request.region, pipeline);
  return fromCloudFormation(STACK_NAME, request.region, [`no outputs file at ${DEFAULT_OUTPUTS_FILE}`], pipeline);
}

async function fromOutputsFile(
  path: string,
  shown: string,
  stack: string | undefined,
  region: string | undefined,
  pipeline: Pipeline,
): Promise<Target> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new TargetError(`cannot read the outputs file ${shown}: ${errorText(error)}`, { cause: error });
  }
  let parsed: Record<string, Record<string, string>>;
  try {
    parsed = outputsFileSchema.parse(JSON.parse(text));
  } catch (error) {
    throw new TargetError(
      `the outputs file ${shown} is not a stack outputs file ({ "<stack>": { "<output>": "<value>" } }): ${errorText(error)}`,
      { cause: error },
    );
  }
  const stacks = Object.keys(parsed);
  const stackName = stack ?? (stacks.includes(STACK_NAME) || stacks.length !== 1 ? STACK_NAME : (stacks[0] ?? ''));
  const outputs = parsed[stackName];
  if (outputs === undefined) {
    throw new TargetError(
      `the outputs file ${shown} has no stack ${stackName} (it has ${stacks.length === 0 ? 'none' : stacks.join(', ')})`,
    );
  }
  return build(stackName, `outputs file ${shown}`, outputs, region, pipeline);
}

async function fromCloudFormation(
  stackName: string,
  region: string | undefined,
  tried: string[],
  pipeline: Pipeline,
): Promise<Target> {
  const cloudformation = new CloudFormationClient(region === undefined ? {} : { region });
  let outputs: Record<string, string>;
  let resolvedRegion: string | undefined = region;
  try {
    resolvedRegion = await cloudformation.config.region();
    const { Stacks = [] } = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    outputs = Object.fromEntries(
      (Stacks[0]?.Outputs ?? []).flatMap((output) =>
        output.OutputKey !== undefined && output.OutputValue !== undefined
          ? [[output.OutputKey, output.OutputValue] as const]
          : [],
      ),
    );
  } catch (error) {
    const where = resolvedRegion === undefined ? 'with no AWS region set (use --region)' : `in ${resolvedRegion}`;
    const reason = /does not exist/.test(errorText(error)) ? 'not found' : `unreadable: ${errorText(error)}`;
    throw new TargetError(
      `cannot find the stack's outputs: ${[...tried, `CloudFormation stack ${stackName} ${where} ${reason}`].join('; ')}`,
      { cause: error },
    );
  } finally {
    cloudformation.destroy();
  }
  return build(stackName, `CloudFormation stack ${stackName}`, outputs, resolvedRegion, pipeline);
}

function build(
  stackName: string,
  source: string,
  outputs: Readonly<Record<string, string>>,
  requestedRegion: string | undefined,
  pipeline: Pipeline,
): Target {
  const need = (key: string) => {
    const value = outputs[key];
    if (value === undefined || value === '') {
      throw new TargetError(`the outputs of ${stackName} (${source}) have no ${key}: is it a sluice stack?`);
    }
    return value;
  };
  const lanes = Object.fromEntries(
    pipeline.lanes.map((name) => {
      const queueKey = queueKeyOf(pipeline, name);
      const keys = queueOutputKeys(queueKey);
      // What an operator calls the lane's input queue: intake, draft, published.
      const label = queueKey.toLowerCase();
      const lane: Lane = {
        name,
        queue: { label, url: need(keys.url), arn: outputs[keys.arn] },
        deadLetterQueue: { label: `${label} DLQ`, url: need(keys.deadLetterUrl), arn: outputs[keys.deadLetterArn] },
      };
      return [name, lane];
    }),
  );
  const intake = lanes[pipeline.lanes[0] as string] as Lane;
  const stateTableName = need('StateTableName');
  const sqsEndpoint = outputs[LOCAL_OUTPUT_KEYS.sqsEndpoint];
  const dynamoEndpoint = outputs[LOCAL_OUTPUT_KEYS.dynamoDbEndpoint];

  if (sqsEndpoint !== undefined || dynamoEndpoint !== undefined) {
    if (sqsEndpoint === undefined || dynamoEndpoint === undefined) {
      throw new TargetError(
        `the outputs of ${stackName} (${source}) name only one of ${LOCAL_OUTPUT_KEYS.sqsEndpoint} and ${LOCAL_OUTPUT_KEYS.dynamoDbEndpoint}`,
      );
    }
    const region = outputs[LOCAL_OUTPUT_KEYS.region] ?? 'us-east-1';
    const sqs = new SQSClient({ endpoint: sqsEndpoint, region, credentials: localCredentials() });
    const dynamo = documentClient(
      new DynamoDBClient({ endpoint: dynamoEndpoint, region, credentials: localCredentials() }),
    );
    const lambdaEndpoint = outputs[LOCAL_OUTPUT_KEYS.lambdaEndpoint];
    const lambda =
      lambdaEndpoint === undefined
        ? undefined
        : new LambdaClient({ endpoint: lambdaEndpoint, region, credentials: localCredentials() });
    const secretsEndpoint = outputs[LOCAL_OUTPUT_KEYS.secretsManagerEndpoint];
    const secrets =
      secretsEndpoint === undefined
        ? undefined
        : new SecretsManagerClient({ endpoint: secretsEndpoint, region, credentials: localCredentials() });
    return {
      kind: 'local',
      stackName,
      source,
      region,
      outputs,
      stateTableName,
      pipeline,
      lanes,
      sqs,
      dynamo,
      cloudwatch: undefined,
      lambda,
      secrets,
      description: `${stackName} (local, ${source})`,
      close: () => {
        sqs.destroy();
        dynamo.destroy();
        lambda?.destroy();
        secrets?.destroy();
      },
    };
  }

  const region = requestedRegion ?? regionOfArn(intake.queue.arn);
  const config = region === undefined ? {} : { region };
  const sqs = new SQSClient(config);
  const dynamo = documentClient(new DynamoDBClient(config));
  const cloudwatch = new CloudWatchClient(config);
  const lambda = new LambdaClient(config);
  const secrets = new SecretsManagerClient(config);
  return {
    kind: 'aws',
    stackName,
    source,
    region,
    outputs,
    stateTableName,
    pipeline,
    lanes,
    sqs,
    dynamo,
    cloudwatch,
    lambda,
    secrets,
    description: `${stackName} (AWS${region === undefined ? '' : ` ${region}`}, ${source})`,
    close: () => {
      sqs.destroy();
      dynamo.destroy();
      cloudwatch.destroy();
      lambda.destroy();
      secrets.destroy();
    },
  };
}

/** The SQS endpoint answered, only not with the queue: it does not exist, or the credentials may not read it. */
/** The first stage's lane: where items enter the pipeline. */
export function intakeLane(target: Pick<Target, 'pipeline' | 'lanes'>): Lane {
  return laneOf(target, target.pipeline.lanes[0] as string);
}

/**
 * The lane of the stage whose items are re-enriched (worked on again once the memory store is back).
 * @throws {TargetError} when no stage of the pipeline re-enriches.
 */
export function reenrichingLane(target: Pick<Target, 'pipeline' | 'lanes'>): Lane {
  const stage = reenrichingStageOf(target.pipeline);
  if (stage === undefined) throw new TargetError('no stage of the pipeline re-enriches items');
  return laneOf(target, stage.name);
}

/**
 * One lane of a target by name.
 * @throws {TargetError} naming the lanes there are.
 */
export function laneOf(target: Pick<Target, 'pipeline' | 'lanes'>, name: string): Lane {
  const lane = target.lanes[name];
  if (lane === undefined) {
    throw new TargetError(`no lane ${JSON.stringify(name)} (the lanes: ${target.pipeline.lanes.join(', ')})`);
  }
  return lane;
}

function answeredByService(error: unknown): boolean {
  const name = error instanceof Error ? error.name : '';
  return /QueueDoesNotExist|NonExistentQueue|AccessDenied/.test(`${name} ${errorText(error)}`);
}

function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

/** `arn:aws:sqs:eu-west-1:123456789012:Queue` → `eu-west-1`. */
function regionOfArn(arn: string | undefined): string | undefined {
  const region = arn?.split(':')[3];
  return region === undefined || region === '' ? undefined : region;
}

/** A short description of any thrown value, for one-line messages (shared with the functions). */
export { errorText };
