import { parseArgs } from 'node:util';
import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { CloudFormationClient, GetTemplateCommand } from '@aws-sdk/client-cloudformation';
import { type CompositeAlarm, DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { DescribeTableCommand, type TableDescription } from '@aws-sdk/client-dynamodb';
import { type EvaluationResult, IAMClient, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { type FunctionConfiguration, GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { cdkJsonContext } from '#lib/cdk-json.ts';
import { loadConfig, type SluiceConfig } from '#lib/config.ts';
import { LOCAL_OUTPUT_KEYS, STACK_OUTPUT_KEYS } from '#lib/outputs.ts';
import { judgeReservedConcurrency, readAccountConcurrency, reservedConcurrencyPlan } from '#ops/concurrency-check.ts';
import {
  errorText,
  LANE_NAMES,
  type LaneName,
  type QueueRef,
  TARGET_HELP,
  TARGET_OPTIONS,
  type Target,
  type TargetRequest,
} from '#ops/target.ts';
import { LlmCallError, SecretUnavailableError } from '#shared/errors.ts';
import { OpenAiLlmClient } from '#shared/llm-client.ts';
import { STAGES, type Stage } from '#shared/runtime-config.ts';
import { apiKeyFromSecret } from '#shared/stage-runtime.ts';
import { noPositionals, parsePositiveNumber } from './arguments.ts';
import { type CommandIo, PROCESS_IO, printJson, runOperatorCommand, writeLines } from './operator-command.ts';
import { describeControl, readEventSources } from './pause.ts';
import { EXIT, UsageError } from './usage-error.ts';

/**
 * `sluice doctor`: checks a stack end to end, deployed or local, and says what is wrong and how to fix each
 * thing: the outputs, the queues and their redrive, the tables, the functions' permissions, the API key secret,
 * the provider with that key for every stage's model, the alarms, and the stages' event sources. The checks run
 * at once, each within its own time limit, so one endpoint that does not answer cannot hang the command.
 */

export const DOCTOR_HELP = `Usage: sluice doctor [--timeout SECONDS] [options]
       sluice doctor --pre-deploy [--region REGION] [--timeout SECONDS] [--json]

Checks the stack end to end and prints one line per check, with the problem and its fix under each failure:

  outputs        every output the stack defines is present (and, locally, the runtime's endpoints)
  queues         every queue exists, each working queue redrives to its DLQ, no DLQ holds messages
  tables         the state and memory tables exist and are ACTIVE
  permissions    each stage function's role may do what the stage needs (AWS only; see below)
  secret         the API key secret can be read and holds a key (its value is never printed)
  provider       one tiny call (1 completion token) per stage model with that key, from this machine
  alarms         the stack's alarms exist, and which are in ALARM (AWS only)
  event-sources  each stage's event source is enabled; a paused one says who paused it and why
  concurrency    the account has room for the reserved concurrency cdk.json asks for: Lambda keeps 10
                 unreserved, so a deploy reserving more than the quota less 10 fails (AWS only)

On AWS the role check simulates each stage role's identity policies (iam:SimulatePrincipalPolicy) for what the
stage needs: sending to its queues, the state table, the API key secret. Any access the operator's credentials
lack is itself reported, naming the permission.

Before the first deploy, --pre-deploy runs the concurrency check alone against the account and region (no stack
needed): a new account's quota of 10 leaves no room for the 9 executions the defaults reserve, and the fix is
"reservedConcurrencyEnabled": false in cdk.json.

Options:
  --timeout SECONDS    Time limit of each check (default 10, at most 300); a check past it names the endpoint
                       that did not answer.
  --pre-deploy         Check only the account's concurrency against cdk.json, before the stack exists (with
                       --region, --timeout and --json only).
${TARGET_HELP}
Exit codes: 0 healthy (every check ok or skipped); 1 problems found, or the target unreachable; 2 bad usage.

Examples:
  sluice doctor
  sluice doctor --stack Sluice --region eu-west-1
  sluice doctor --json | jq '.checks[] | select(.status == "problem")'
  sluice doctor --pre-deploy --region eu-west-1
`;

/** The checks, in the order they are reported. */
export const DOCTOR_CHECKS = [
  'outputs',
  'queues',
  'tables',
  'permissions',
  'secret',
  'provider',
  'alarms',
  'event-sources',
  'concurrency',
] as const;
export type DoctorCheckName = (typeof DOCTOR_CHECKS)[number];

export { OPTIONAL_STACK_OUTPUT_KEYS, STACK_OUTPUT_KEYS } from '#lib/outputs.ts';

export type CheckStatus = 'ok' | 'problem' | 'skipped';

/** One thing wrong, and what to do about it. */
export interface Finding {
  problem: string;
  fix: string;
}

/** One check as `--json` prints it: `detail` and `fix` join the check's problems when it has several. */
export interface DoctorCheck {
  name: DoctorCheckName;
  status: CheckStatus;
  detail: string;
  fix?: string | undefined;
  /** Each problem with its own fix (status `problem` only). */
  problems?: Finding[] | undefined;
  /** What else to know: e.g. the commands to run by hand for a skipped check. */
  notes?: string[] | undefined;
}

export interface DoctorReport {
  healthy: boolean;
  checks: DoctorCheck[];
}

export interface DoctorOptions {
  /** Time limit of each check. */
  timeoutMs: number;
  /** The client the deployed template is read through (its alarm names); by default one for the target's region. */
  cloudformation?: CloudFormationClient | undefined;
  /** The client the stage roles' permissions are simulated through; by default one for the target's region. */
  iam?: IAMClient | undefined;
  /** The config a deploy would use, for the reserved concurrency it asks for; by default the project's cdk.json. */
  config?: SluiceConfig | undefined;
}

/** Default time limit of one check. */
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;

/** What a check found, before it is given its name. */
type Outcome =
  | { status: 'ok'; detail: string; notes?: string[] }
  | { status: 'skipped'; detail: string; notes?: string[] }
  | { status: 'problem'; problems: Finding[]; notes?: string[] };

/** Runs `call` as one of the check's outbound requests to `endpoint`, with the check's abort signal. */
type Watch = <T>(endpoint: string, call: (signal: AbortSignal) => Promise<T>) => Promise<T>;

const ok = (detail: string, notes?: string[]): Outcome => ({ status: 'ok', detail, ...(notes && { notes }) });
const skipped = (detail: string, notes?: string[]): Outcome => ({
  status: 'skipped',
  detail,
  ...(notes && { notes }),
});
const problems = (found: Finding[]): Outcome => ({ status: 'problem', problems: found });

/**
 * Runs every check against the target, concurrently, each within `options.timeoutMs`.
 * @example
 * const report = await runDoctorChecks(target, { timeoutMs: 10_000 });
 * if (!report.healthy) for (const check of report.checks) console.log(check.name, check.detail);
 */
export async function runDoctorChecks(target: Target, options: DoctorOptions): Promise<DoctorReport> {
  const doctor = new Doctor(target, options);
  try {
    const checks = await Promise.all(DOCTOR_CHECKS.map((name) => doctor.run(name)));
    return { healthy: checks.every((check) => check.status !== 'problem'), checks };
  } finally {
    doctor.abort();
  }
}

/** A stage function's configuration, as GetFunctionConfiguration answers it, or why it could not be read. */
interface StageFunction {
  stage: Stage;
  functionName: string | undefined;
  configuration?: FunctionConfiguration;
  error?: unknown;
}

/** The API key from the secret, or why it could not be read (as the secret check reports it). */
type SecretRead = { key: string; arn: string } | { unreadable: string; findings: Finding[] };

const stageRuntimeConfigSchema = z.looseObject({
  model: z.string().min(1),
  fallbackModel: z.string().min(1).optional(),
  llm: z.looseObject({ baseUrl: z.string().optional(), timeoutMs: z.number().int().positive() }),
});

/** The provider the openai SDK calls when no base URL is configured. */
const DEFAULT_PROVIDER_URL = 'https://api.openai.com/v1';

class Doctor {
  readonly #target: Target;
  readonly #options: DoctorOptions;
  /** Aborts what the shared reads still have under way once the report is done. */
  readonly #shared = new AbortController();
  #functions: Promise<StageFunction[]> | undefined;
  #secret: Promise<SecretRead> | undefined;

  constructor(target: Target, options: DoctorOptions) {
    this.#target = target;
    this.#options = options;
  }

  abort(): void {
    this.#shared.abort();
  }

  /** Runs one check within the time limit; past it, names the endpoints that had not answered. */
  async run(name: DoctorCheckName): Promise<DoctorCheck> {
    const controller = new AbortController();
    const pending = new Map<number, string>();
    let next = 0;
    const watch: Watch = async (endpoint, call) => {
      const id = next++;
      pending.set(id, endpoint);
      try {
        return await call(controller.signal);
      } finally {
        pending.delete(id);
      }
    };
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<Outcome>((resolve) => {
      timer = setTimeout(() => {
        const endpoints = [...new Set(pending.values())];
        controller.abort();
        resolve(problems([this.#timeoutFinding(endpoints)]));
      }, this.#options.timeoutMs);
    });
    let outcome: Outcome;
    try {
      outcome = await Promise.race([this.#check(name, watch), timedOut]);
    } catch (error) {
      outcome = problems([
        { problem: `the check failed: ${errorText(error)}`, fix: 'run it again; if it keeps failing, report it' },
      ]);
    } finally {
      clearTimeout(timer);
    }
    return named(name, outcome);
  }

  #check(name: DoctorCheckName, watch: Watch): Promise<Outcome> {
    switch (name) {
      case 'outputs':
        return Promise.resolve(this.#checkOutputs());
      case 'queues':
        return this.#checkQueues(watch);
      case 'tables':
        return this.#checkTables(watch);
      case 'permissions':
        return this.#checkPermissions(watch);
      case 'secret':
        return this.#checkSecret(watch);
      case 'provider':
        return this.#checkProvider(watch);
      case 'alarms':
        return this.#checkAlarms(watch);
      case 'event-sources':
        return this.#checkEventSources(watch);
      case 'concurrency':
        return this.#checkConcurrency(watch);
    }
  }

  get #local(): boolean {
    return this.#target.kind === 'local';
  }

  /** Where a service's requests go: the local endpoint from the outputs, or AWS's regional one. */
  #endpoint(
    service: 'sqs' | 'dynamodb' | 'lambda' | 'secretsmanager' | 'monitoring' | 'cloudformation' | 'iam',
  ): string {
    const outputs = this.#target.outputs;
    if (this.#local) {
      const key = {
        sqs: LOCAL_OUTPUT_KEYS.sqsEndpoint,
        dynamodb: LOCAL_OUTPUT_KEYS.dynamoDbEndpoint,
        lambda: LOCAL_OUTPUT_KEYS.lambdaEndpoint,
        secretsmanager: LOCAL_OUTPUT_KEYS.secretsManagerEndpoint,
        monitoring: undefined,
        cloudformation: undefined,
        iam: undefined,
      }[service];
      return (key && outputs[key]) ?? `the local ${service} endpoint`;
    }
    const region = this.#target.region;
    // IAM is a global service with one endpoint.
    if (service === 'iam') return 'https://iam.amazonaws.com';
    return region === undefined
      ? `${service} in the SDK's default region`
      : `https://${service}.${region}.amazonaws.com`;
  }

  #timeoutFinding(endpoints: readonly string[]): Finding {
    const seconds = this.#options.timeoutMs / 1000;
    const which = endpoints.length === 0 ? 'the endpoints it called' : endpoints.join(', ');
    return {
      problem: `timed out after ${seconds} s waiting for ${which}`,
      fix: this.#local
        ? `check that 'sluice dev' is running and responsive (it serves ${which}); restart it if it hangs`
        : `check that ${which} can be reached from here (network, proxy, VPC endpoint), or allow more time with --timeout`,
    };
  }

  /** The fix for anything the stack lacks: restart the local runtime, or deploy again. */
  get #redeploy(): string {
    if (this.#local)
      return "restart 'sluice dev': it creates the resources the stack defines and rewrites the outputs file";
    const file = /^outputs file (.+)$/.exec(this.#target.source)?.[1];
    return file === undefined
      ? 'deploy the stack again: npx cdk deploy'
      : `deploy the stack again and rewrite the outputs file: npx cdk deploy --outputs-file ${file}`;
  }

  /** A finding when `error` is an access denial: which permission the operator's credentials lack. */
  #denied(error: unknown, action: string, resource: string): Finding | undefined {
    if (!isAccessDenied(error)) return undefined;
    const who = /User: (\S+) is not authorized/.exec(errorText(error))?.[1];
    return {
      problem: `the operator's credentials${who === undefined ? '' : ` (${who})`} may not call ${action} on ${resource}`,
      fix: `grant ${action} on ${resource} to ${who ?? 'the IAM identity sluice runs as'} (docs/cli.md lists what the commands need)`,
    };
  }

  /** A finding for a request that failed: an access denial, an unreachable endpoint, or the error as it is. */
  #failed(error: unknown, action: string, resource: string, endpoint: string): Finding {
    const denied = this.#denied(error, action, resource);
    if (denied !== undefined) return denied;
    if (isUnreachable(error)) {
      return {
        problem: `cannot reach ${endpoint} for ${action}: ${errorText(error)}`,
        fix: this.#local
          ? "start 'sluice dev' (or restart it: the outputs file names the endpoints of its last start)"
          : `check the network path to ${endpoint} and the region`,
      };
    }
    return {
      problem: `${action} on ${resource} failed: ${errorText(error)}`,
      fix: this.#local ? "restart 'sluice dev'" : `check ${resource} in the AWS console and the stack's events`,
    };
  }

  // ── outputs ────────────────────────────────────────────────────────────────────────────────────────────────────

  #checkOutputs(): Outcome {
    const outputs = this.#target.outputs;
    const missing = STACK_OUTPUT_KEYS.filter((key) => !outputs[key]);
    const found: Finding[] = [];
    if (missing.length > 0) {
      found.push({ problem: `the outputs lack ${missing.join(', ')}`, fix: this.#redeploy });
    }
    const localKeys: string[] = Object.values(LOCAL_OUTPUT_KEYS);
    const missingLocal = this.#local ? localKeys.filter((key) => !outputs[key]) : [];
    if (missingLocal.length > 0) {
      found.push({
        problem: `the outputs file names no ${missingLocal.join(', ')} (an older 'sluice dev' wrote it)`,
        fix: "restart 'sluice dev': it writes every local endpoint to the outputs file",
      });
    }
    if (found.length > 0) return problems(found);
    const local = this.#local ? ` and the ${localKeys.length} local endpoints` : '';
    return ok(`all ${STACK_OUTPUT_KEYS.length} stack outputs${local} are present`);
  }

  // ── queues ─────────────────────────────────────────────────────────────────────────────────────────────────────

  async #checkQueues(watch: Watch): Promise<Outcome> {
    const endpoint = this.#endpoint('sqs');
    const read = async (queue: QueueRef) => {
      try {
        const { Attributes = {} } = await watch(endpoint, (abortSignal) =>
          this.#target.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ['All'] }), {
            abortSignal,
          }),
        );
        return { queue, attributes: Attributes as Record<string, string> };
      } catch (error) {
        return { queue, error };
      }
    };
    const lanes = LANE_NAMES.map((name) => this.#target.lanes[name]);
    const results = await Promise.all(
      lanes.map(async (lane) => {
        const [queue, dlq] = await Promise.all([read(lane.queue), read(lane.deadLetterQueue)]);
        return { lane: lane.name, queue, dlq };
      }),
    );
    const found: Finding[] = [];
    let dlqMessages = 0;
    for (const { lane, queue, dlq } of results) {
      for (const side of [queue, dlq]) {
        if (side.error === undefined) continue;
        found.push(
          isMissingQueue(side.error)
            ? {
                problem: `the ${queueName(side.queue)} ${side.queue.url} does not exist`,
                fix: this.#missingQueueFix(),
              }
            : this.#failed(side.error, 'sqs:GetQueueAttributes', side.queue.arn ?? side.queue.url, endpoint),
        );
      }
      if (queue.attributes !== undefined) {
        const dlqArn = dlq.attributes?.QueueArn ?? dlq.queue.arn;
        const redrive = parseRedrivePolicy(queue.attributes.RedrivePolicy);
        if (redrive === undefined) {
          found.push({
            problem: `the ${queueName(queue.queue)} has no redrive policy: messages that keep failing never reach the ${dlq.queue.label}`,
            fix: this.#local
              ? "restart 'sluice dev': it sets the queues' attributes from the stack's template"
              : "deploy the stack again (npx cdk deploy): the queue's RedrivePolicy was changed outside CloudFormation",
          });
        } else if (dlqArn !== undefined && redrive.deadLetterTargetArn !== dlqArn) {
          found.push({
            problem: `the ${queueName(queue.queue)} redrives to ${redrive.deadLetterTargetArn}, not to its DLQ ${dlqArn}`,
            fix: this.#local
              ? "restart 'sluice dev': it sets the queues' attributes from the stack's template"
              : "deploy the stack again (npx cdk deploy): the queue's RedrivePolicy was changed outside CloudFormation",
          });
        }
      }
      if (dlq.attributes !== undefined) {
        const held = ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']
          .map((key) => Number(dlq.attributes?.[key] ?? 0))
          .reduce((sum, count) => sum + count, 0);
        dlqMessages += held;
        if (held > 0) found.push(dlqFinding(lane, dlq.queue, held));
      }
    }
    if (found.length > 0) return problems(found);
    return ok(
      `${lanes.length * 2} queues exist; ${lanes.map((lane) => lane.queue.label).join(', ')} redrive to their DLQs; ` +
        `the DLQs hold ${dlqMessages} messages`,
    );
  }

  #missingQueueFix(): string {
    if (this.#local) return "restart 'sluice dev': it creates every queue the stack defines";
    return (
      `check that the outputs are current (aws cloudformation describe-stacks --stack-name ${this.#target.stackName}); ` +
      "a queue deleted outside CloudFormation is not recreated by 'cdk deploy': detect the drift " +
      `(aws cloudformation detect-stack-drift --stack-name ${this.#target.stackName}) and recreate the stack`
    );
  }

  // ── tables ─────────────────────────────────────────────────────────────────────────────────────────────────────

  async #checkTables(watch: Watch): Promise<Outcome> {
    const endpoint = this.#endpoint('dynamodb');
    const tables = [
      { label: 'state', name: this.#target.stateTableName },
      ...(this.#target.outputs.MemoryTableName
        ? [{ label: 'memory', name: this.#target.outputs.MemoryTableName }]
        : []),
    ];
    const found: Finding[] = [];
    await Promise.all(
      tables.map(async ({ label, name }) => {
        let table: TableDescription | undefined;
        try {
          ({ Table: table } = await watch(endpoint, (abortSignal) =>
            this.#target.dynamo.send(new DescribeTableCommand({ TableName: name }), { abortSignal }),
          ));
        } catch (error) {
          found.push(
            errorNamed(error, 'ResourceNotFoundException')
              ? { problem: `the ${label} table ${name} does not exist`, fix: this.#redeploy }
              : this.#failed(error, 'dynamodb:DescribeTable', `table ${name}`, endpoint),
          );
          return;
        }
        const inactive = [
          ...(table?.TableStatus === 'ACTIVE' ? [] : [`the table is ${table?.TableStatus ?? 'in an unknown state'}`]),
          ...(table?.GlobalSecondaryIndexes ?? [])
            .filter((index) => index.IndexStatus !== 'ACTIVE')
            .map((index) => `its index ${index.IndexName} is ${index.IndexStatus}`),
        ];
        if (inactive.length > 0) {
          found.push({
            problem: `the ${label} table ${name} is not ready: ${inactive.join(', ')}`,
            fix: 'wait until it is ACTIVE (an update or a restore is under way); the stages fail until then',
          });
        }
      }),
    );
    if (found.length > 0) return problems(found);
    return ok(tables.map(({ label, name }) => `${label} table ${name} is ACTIVE`).join('; '));
  }

  // ── functions (shared by permissions and provider) ────────────────────────────────────────────────────────────

  #stageFunctions(): Promise<StageFunction[]> {
    this.#functions ??= Promise.all(
      STAGES.map(async (stage): Promise<StageFunction> => {
        const functionName = this.#target.outputs[`${capitalized(stage)}FunctionName`] || undefined;
        const lambda = this.#target.lambda;
        if (functionName === undefined || lambda === undefined) return { stage, functionName };
        try {
          const configuration = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }), {
            abortSignal: this.#shared.signal,
          });
          return { stage, functionName, configuration };
        } catch (error) {
          return { stage, functionName, error };
        }
      }),
    );
    return this.#functions;
  }

  /** Findings for stage functions whose configuration could not be read. */
  #functionFindings(functions: readonly StageFunction[]): Finding[] {
    return functions.flatMap(({ stage, functionName, error }): Finding[] => {
      if (functionName === undefined) {
        return [{ problem: `the outputs name no ${capitalized(stage)}FunctionName`, fix: this.#redeploy }];
      }
      if (this.#target.lambda === undefined) {
        return [
          {
            problem: 'the outputs name no LocalLambdaEndpoint, which serves the functions',
            fix: "restart 'sluice dev'",
          },
        ];
      }
      if (error === undefined) return [];
      if (errorNamed(error, 'ResourceNotFoundException')) {
        return [{ problem: `the ${stage} function ${functionName} does not exist`, fix: this.#redeploy }];
      }
      return [
        this.#failed(error, 'lambda:GetFunctionConfiguration', `function ${functionName}`, this.#endpoint('lambda')),
      ];
    });
  }

  // ── permissions ────────────────────────────────────────────────────────────────────────────────────────────────

  async #checkPermissions(watch: Watch): Promise<Outcome> {
    if (this.#local) return skipped('no IAM locally: the emulators do not check permissions');
    const functions = await watch(this.#endpoint('lambda'), () => this.#stageFunctions());
    const unread = this.#functionFindings(functions).filter((finding) => /may not call/.test(finding.problem));
    if (unread.length > 0) return problems(unread);
    const own = this.#options.iam === undefined;
    const iam =
      this.#options.iam ?? new IAMClient(this.#target.region === undefined ? {} : { region: this.#target.region });
    try {
      const found: Finding[] = [];
      let simulated = 0;
      for (const { stage, configuration } of functions) {
        const role = configuration?.Role;
        if (role === undefined) continue;
        for (const need of this.#needs(stage)) {
          let results: EvaluationResult[];
          try {
            results = await watch(this.#endpoint('iam'), (abortSignal) =>
              this.#simulate(iam, role, need.actions, need.resources, abortSignal),
            );
          } catch (error) {
            found.push(this.#failed(error, 'iam:SimulatePrincipalPolicy', role, this.#endpoint('iam')));
            continue;
          }
          simulated += results.length;
          for (const result of results) {
            if (result.EvalDecision === 'allowed') continue;
            found.push({
              problem: `the ${stage} function's role ${role} may not ${result.EvalActionName} on ${result.EvalResourceName} (${result.EvalDecision})`,
              fix: `${this.#redeploy} (its grants give the ${stage} stage ${need.why})`,
            });
          }
        }
      }
      if (found.length > 0) return problems(found);
      return ok(
        `each stage function's role may do what its stage needs (${simulated} action-resource pairs simulated)`,
      );
    } finally {
      if (own) iam.destroy();
    }
  }

  /** What a stage's role needs, on which resources, and why. */
  #needs(stage: Stage): { actions: string[]; resources: string[]; why: string }[] {
    const lane = this.#target.lanes[stage];
    const next = stage === 'extract' ? this.#target.lanes.draft : this.#target.lanes.published;
    const queueArn = lane.queue.arn ?? '';
    const [, partition = 'aws', , region = '', account = ''] = queueArn.split(':');
    const tableArn = `arn:${partition}:dynamodb:${region}:${account}:table/${this.#target.stateTableName}`;
    const defined = (values: (string | undefined)[]) => values.filter((value): value is string => !!value);
    return [
      {
        actions: ['sqs:SendMessage'],
        resources: defined([next.queue.arn, lane.deadLetterQueue.arn, lane.queue.arn]),
        why: 'sending to its next queue, its DLQ and its own queue (waits)',
      },
      {
        actions: ['dynamodb:GetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [tableArn],
        why: 'reading and writing the state table',
      },
      {
        actions: ['secretsmanager:GetSecretValue'],
        resources: defined([this.#target.outputs.ApiKeySecretArn]),
        why: 'reading the API key secret',
      },
    ].filter((need) => need.resources.length > 0);
  }

  /** IAM's verdict on each action on each resource for the role's identity policies. */
  async #simulate(
    iam: IAMClient,
    role: string,
    actions: string[],
    resources: string[],
    abortSignal: AbortSignal,
  ): Promise<EvaluationResult[]> {
    const results: EvaluationResult[] = [];
    let marker: string | undefined;
    do {
      const page = await iam.send(
        new SimulatePrincipalPolicyCommand({
          PolicySourceArn: role,
          ActionNames: actions,
          ResourceArns: resources,
          ...(marker === undefined ? {} : { Marker: marker }),
        }),
        { abortSignal },
      );
      // One result per action; per resource in ResourceSpecificResults when several resources were asked about.
      for (const result of page.EvaluationResults ?? []) {
        const specific = result.ResourceSpecificResults ?? [];
        if (specific.length === 0) results.push(result);
        for (const each of specific) {
          results.push({
            EvalActionName: result.EvalActionName,
            EvalResourceName: each.EvalResourceName,
            EvalDecision: each.EvalResourceDecision,
          });
        }
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker !== undefined);
    return results;
  }

  // ── secret ─────────────────────────────────────────────────────────────────────────────────────────────────────

  #readSecret(): Promise<SecretRead> {
    this.#secret ??= this.#readSecretOnce();
    return this.#secret;
  }

  async #readSecretOnce(): Promise<SecretRead> {
    const arn = this.#target.outputs.ApiKeySecretArn;
    if (!arn) return { unreadable: 'the outputs name no ApiKeySecretArn', findings: [] };
    const client = this.#target.secrets;
    if (client === undefined) {
      const finding = {
        problem: 'the outputs file names no LocalSecretsManagerEndpoint, where the API key secret is served',
        fix: "restart 'sluice dev': it serves the secret and writes the endpoint to the outputs file",
      };
      return { unreadable: finding.problem, findings: [finding] };
    }
    try {
      // The stages' own read path: the same parsing of plain-text and {"apiKey": ...} secrets.
      const key = await apiKeyFromSecret(arn, new SecretsProvider({ awsSdkV3Client: client }));
      if (key === '') throw new SecretUnavailableError(arn, 'empty', `secret ${arn} holds an empty key`);
      return { key, arn };
    } catch (error) {
      const finding = this.#secretFinding(error, arn);
      return { unreadable: finding.problem, findings: [finding] };
    }
  }

  #secretFinding(error: unknown, arn: string): Finding {
    const endpoint = this.#endpoint('secretsmanager');
    const cli = this.#local ? `aws --endpoint-url ${endpoint} secretsmanager` : 'aws secretsmanager';
    const put = `${cli} put-secret-value --secret-id ${arn} --secret-string 'KEY'`;
    const text = causes(error).map(errorText).join(': ');
    if (causes(error).some((cause) => /marked for deletion/.test(cause.message))) {
      return {
        problem: `the API key secret ${arn} is scheduled for deletion`,
        fix: `restore it: ${cli} restore-secret --secret-id ${arn}`,
      };
    }
    if (causes(error).some((cause) => /can't find the specified secret value/.test(cause.message))) {
      return { problem: `the API key secret ${arn} has no value`, fix: `put the LLM API key in it: ${put}` };
    }
    if (causes(error).some((cause) => errorNamed(cause, 'ResourceNotFoundException'))) {
      return {
        problem: `the API key secret ${arn} does not exist`,
        fix: this.#local
          ? "restart 'sluice dev': it creates the secret with the key at start"
          : `${this.#redeploy} (or set apiKeySecretArn to an existing secret), then put the key in it: ${put}`,
      };
    }
    if (causes(error).some((cause) => cause instanceof SecretUnavailableError && cause.reason === 'empty')) {
      return { problem: `the API key secret ${arn} holds no key`, fix: `put the LLM API key in it: ${put}` };
    }
    const denied = causes(error)
      .map((cause) => this.#denied(cause, 'secretsmanager:GetSecretValue', arn))
      .find((finding) => finding !== undefined);
    if (denied !== undefined) return denied;
    const root = causes(error).at(-1);
    return root !== undefined && isUnreachable(root)
      ? this.#failed(root, 'secretsmanager:GetSecretValue', arn, endpoint)
      : {
          problem: `cannot read the API key secret ${arn}: ${text}`,
          fix: `check the secret; put the key with: ${put}`,
        };
  }

  async #checkSecret(watch: Watch): Promise<Outcome> {
    const secret = await watch(this.#endpoint('secretsmanager'), () => this.#readSecret());
    if ('key' in secret) return ok(`the API key secret ${secret.arn} holds a key (not shown)`);
    if (secret.findings.length === 0) return skipped(`${secret.unreadable} (see the outputs check)`);
    return problems(secret.findings);
  }

  // ── provider ───────────────────────────────────────────────────────────────────────────────────────────────────

  async #checkProvider(watch: Watch): Promise<Outcome> {
    const [secret, functions] = await Promise.all([
      watch(this.#endpoint('secretsmanager'), () => this.#readSecret()),
      watch(this.#endpoint('lambda'), () => this.#stageFunctions()),
    ]);
    if (!('key' in secret)) return skipped('no call made without the API key: see the secret check');
    const unread = this.#functionFindings(functions);
    if (unread.length > 0) return problems(unread);

    const probes = new Map<string, { baseUrl: string | undefined; model: string; timeoutMs: number; uses: string[] }>();
    const found: Finding[] = [];
    for (const { stage, functionName, configuration } of functions) {
      const config = stageRuntimeConfigSchema.safeParse(
        parseJson(configuration?.Environment?.Variables?.SLUICE_RUNTIME_CONFIG),
      );
      if (!config.success) {
        found.push({
          problem: `the ${stage} function ${functionName} has no valid SLUICE_RUNTIME_CONFIG in its environment`,
          fix: this.#redeploy,
        });
        continue;
      }
      const { model, fallbackModel, llm } = config.data;
      for (const [use, name] of [
        [`stages.${stage}.model`, model],
        ['llm.fallbackModel', fallbackModel],
      ] as const) {
        if (name === undefined) continue;
        const key = `${llm.baseUrl ?? ''} ${name}`;
        const probe = probes.get(key) ?? { baseUrl: llm.baseUrl, model: name, timeoutMs: llm.timeoutMs, uses: [] };
        if (!probe.uses.includes(use)) probe.uses.push(use);
        probes.set(key, probe);
      }
    }
    const answered: string[] = [];
    const notes: string[] = [];
    await Promise.all(
      [...probes.values()].map(async (probe) => {
        const url = probe.baseUrl ?? DEFAULT_PROVIDER_URL;
        const client = new OpenAiLlmClient({ apiKey: async () => secret.key, baseUrl: probe.baseUrl });
        try {
          const completion = await watch(url, (signal) =>
            client.probe({
              model: probe.model,
              timeoutMs: Math.min(probe.timeoutMs, this.#options.timeoutMs),
              caller: 'doctor',
              signal,
            }),
          );
          answered.push(`${probe.model} (${probe.uses.join(', ')}) in ${completion.latencyMs} ms`);
        } catch (error) {
          if (error instanceof LlmCallError && error.status === 429) {
            answered.push(`${probe.model} (${probe.uses.join(', ')}) rate-limited`);
            notes.push(
              `${url} answered 429 for ${probe.model}: the key and the model are accepted, the limit is reached now`,
            );
            return;
          }
          found.push(this.#providerFinding(error, probe.model, probe.uses, url, secret.arn));
        }
      }),
    );
    if (found.length > 0) return { status: 'problem', problems: found, ...(notes.length > 0 && { notes }) };
    const where = [...new Set([...probes.values()].map((probe) => probe.baseUrl ?? DEFAULT_PROVIDER_URL))].join(', ');
    return ok(`${where} answered ${answered.sort().join('; ')}`, notes.length > 0 ? notes : undefined);
  }

  #providerFinding(error: unknown, model: string, uses: readonly string[], url: string, secretArn: string): Finding {
    const status = error instanceof LlmCallError ? error.status : undefined;
    const message = errorText(error);
    const redeploy = this.#local ? "restart 'sluice dev'" : 'deploy again (npx cdk deploy)';
    const cli = this.#local
      ? `aws --endpoint-url ${this.#endpoint('secretsmanager')} secretsmanager`
      : 'aws secretsmanager';
    if (status === 401 || status === 403) {
      return {
        problem: `${url} refused the API key from secret ${secretArn} (${status}) for ${model}`,
        fix: `put a valid key in the secret: ${cli} put-secret-value --secret-id ${secretArn} --secret-string 'KEY'`,
      };
    }
    if (status === 404) {
      return {
        problem: `${url} does not know the model '${model}' (${uses.join(', ')}): 404`,
        fix: `set ${uses.join(' and ')} in cdk.json to a model the provider serves (with its price), then ${redeploy}`,
      };
    }
    if (status === undefined || status === 408) {
      return {
        problem: `cannot reach the provider at ${url} for ${model}: ${message}`,
        fix: `check llm.baseUrl in cdk.json (${url}), and that the provider answers from here; then ${redeploy}`,
      };
    }
    if (status >= 500) {
      return {
        problem: `${url} is failing (${status}) for ${model}: ${message}`,
        fix: "the provider is having an outage: check its status page; 'sluice pause' holds the stages meanwhile",
      };
    }
    return {
      problem: `${url} refused the probe for ${model} (${status}): ${message}`,
      fix: `check that llm.baseUrl (${url}) serves an OpenAI-compatible chat completions API`,
    };
  }

  // ── alarms ─────────────────────────────────────────────────────────────────────────────────────────────────────

  async #checkAlarms(watch: Watch): Promise<Outcome> {
    const cloudwatch = this.#target.cloudwatch;
    if (this.#local || cloudwatch === undefined) return skipped('CloudWatch does not run locally');
    const endpoint = this.#endpoint('monitoring');
    const [expected, found] = await Promise.all([
      watch(this.#endpoint('cloudformation'), (signal) => this.#expectedAlarmNames(signal)),
      watch(endpoint, async (abortSignal) => {
        const alarms: (MetricAlarm | CompositeAlarm)[] = [];
        let nextToken: string | undefined;
        do {
          const page = await cloudwatch.send(
            new DescribeAlarmsCommand({
              AlarmNamePrefix: this.#target.stackName,
              AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
              NextToken: nextToken,
            }),
            { abortSignal },
          );
          alarms.push(...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? []));
          nextToken = page.NextToken;
        } while (nextToken !== undefined);
        return alarms;
      }).catch((error: unknown) => error),
    ]);
    if (!Array.isArray(found)) {
      return problems([
        this.#failed(found, 'cloudwatch:DescribeAlarms', `alarms ${this.#target.stackName}*`, endpoint),
      ]);
    }
    const names = new Set(found.map((alarm) => alarm.AlarmName ?? ''));
    // With the template's names known, another stack's alarms that share the prefix are left out.
    const known = expected.names === undefined ? undefined : new Set(expected.names);
    const ours = found.filter((alarm) => known === undefined || known.has(alarm.AlarmName ?? ''));
    const notes = expected.note === undefined ? [] : [expected.note];
    const findings: Finding[] = [];
    const missing = expected.names?.filter((name) => !names.has(name)) ?? [];
    if (missing.length > 0) {
      findings.push({
        problem: `${missing.length} of the stack's ${expected.names?.length} alarms do not exist: ${missing.join(', ')}`,
        fix: this.#redeploy,
      });
    } else if (ours.length === 0) {
      findings.push({ problem: `no alarm is named ${this.#target.stackName}*`, fix: this.#redeploy });
    }
    for (const alarm of ours.filter((candidate) => candidate.StateValue === 'ALARM')) {
      const runbook = /Runbook: (\S+)/.exec(alarm.AlarmDescription ?? '')?.[1] ?? 'docs/runbook.md';
      const since = alarm.StateUpdatedTimestamp?.toISOString().slice(0, 19).replace('T', ' ');
      findings.push({
        problem:
          `${alarm.AlarmName} is in ALARM${since === undefined ? '' : ` since ${since}Z`}: ${alarm.StateReason ?? ''}`.trim(),
        fix: `follow its runbook section: ${runbook}`,
      });
    }
    if (findings.length > 0) return { status: 'problem', problems: findings, ...(notes.length > 0 && { notes }) };
    return ok(`${ours.length} alarms exist, none in ALARM`, notes.length > 0 ? notes : undefined);
  }

  /** The alarm names in the deployed template, or why they are not known (then the prefix alone is checked). */
  async #expectedAlarmNames(abortSignal: AbortSignal): Promise<{ names?: string[]; note?: string }> {
    const own = this.#options.cloudformation === undefined;
    const cloudformation =
      this.#options.cloudformation ??
      new CloudFormationClient(this.#target.region === undefined ? {} : { region: this.#target.region });
    try {
      const { TemplateBody } = await cloudformation.send(
        new GetTemplateCommand({ StackName: this.#target.stackName, TemplateStage: 'Processed' }),
        { abortSignal },
      );
      const template = z
        .object({ Resources: z.record(z.string(), z.looseObject({ Type: z.string(), Properties: z.unknown() })) })
        .parse(JSON.parse(TemplateBody ?? ''));
      const names = Object.values(template.Resources).flatMap((resource) => {
        if (resource.Type !== 'AWS::CloudWatch::Alarm' && resource.Type !== 'AWS::CloudWatch::CompositeAlarm')
          return [];
        const name = (resource.Properties as { AlarmName?: unknown } | undefined)?.AlarmName;
        return typeof name === 'string' ? [name] : [];
      });
      return { names };
    } catch (error) {
      return {
        note: `the deployed template could not be read (cloudformation:GetTemplate: ${errorText(error)}): alarms were found by the prefix ${this.#target.stackName} only`,
      };
    } finally {
      if (own) cloudformation.destroy();
    }
  }

  // ── event sources ──────────────────────────────────────────────────────────────────────────────────────────────

  // ── concurrency ────────────────────────────────────────────────────────────────────────────────────────────────

  async #checkConcurrency(watch: Watch): Promise<Outcome> {
    if (this.#local) return skipped('no Lambda concurrency quota locally');
    const lambda = this.#target.lambda;
    if (lambda === undefined) return skipped('no Lambda client for the target');
    const outputs = this.#target.outputs;
    const functions = [outputs.ExtractFunctionName, outputs.DraftFunctionName, outputs.SupervisorFunctionName].filter(
      (name): name is string => !!name,
    );
    return concurrencyOutcome(lambda, this.#options.config, functions, this.#target.region, watch, (error) =>
      this.#failed(error, deniedAction(error) ?? 'lambda:GetAccountSettings', 'the account', this.#endpoint('lambda')),
    );
  }

  async #checkEventSources(watch: Watch): Promise<Outcome> {
    const sources = await watch(this.#endpoint('lambda'), () => readEventSources(this.#target));
    const found: Finding[] = [];
    const running: string[] = [];
    for (const source of sources) {
      if (source.enabled === true) {
        running.push(`${source.stage} ${source.state}`);
        continue;
      }
      if (source.enabled === false) {
        const who =
          source.control?.paused === true
            ? describeControl(source.control)
            : 'no control record says who paused it (changed outside sluice)';
        found.push({
          problem: `the ${source.stage} stage is paused: its event source mapping ${source.mappingId} is ${source.state}; ${who}`,
          fix: `sluice resume ${source.stage}`,
        });
        continue;
      }
      const note = source.note ?? 'not read';
      if (source.mappingId === null) {
        found.push({ problem: `the ${source.stage} stage's event source is unknown: ${note}`, fix: this.#redeploy });
      } else if (/AccessDenied|not authorized/i.test(note)) {
        const who = /User: (\S+) is not authorized/.exec(note)?.[1];
        found.push({
          problem: `the operator's credentials${who === undefined ? '' : ` (${who})`} may not call lambda:GetEventSourceMapping on ${source.mappingId}`,
          fix: `grant lambda:GetEventSourceMapping on the stack's event source mappings to ${who ?? 'the IAM identity sluice runs as'}`,
        });
      } else {
        found.push({
          problem: `cannot read the ${source.stage} stage's event source mapping ${source.mappingId}: ${note}`,
          fix: this.#local ? "restart 'sluice dev'" : this.#redeploy,
        });
      }
    }
    if (found.length > 0) return problems(found);
    return ok(`every stage's event source is enabled: ${running.join(', ')}`);
  }
}

/**
 * The concurrency check, for a deployed stack (its functions' reservations are given back by the deploy) or before
 * the first deploy (no functions).
 */
async function concurrencyOutcome(
  lambda: LambdaClient,
  config: SluiceConfig | undefined,
  functionNames: readonly string[],
  region: string | undefined,
  watch: Watch,
  failed: (error: unknown) => Finding,
): Promise<Outcome> {
  const plan = reservedConcurrencyPlan(config ?? loadConfig(cdkJsonContext().sluice));
  let account: Awaited<ReturnType<typeof readAccountConcurrency>>;
  let where: string;
  try {
    where = region ?? (await lambda.config.region());
    account = await watch(`https://lambda.${where}.amazonaws.com`, (signal) =>
      readAccountConcurrency(lambda, functionNames, signal),
    );
  } catch (error) {
    return problems([failed(error)]);
  }
  const verdict = judgeReservedConcurrency(plan, account, where);
  return verdict.fits ? ok(verdict.detail) : problems([{ problem: verdict.problem, fix: verdict.fix }]);
}

/**
 * `sluice doctor --pre-deploy`: the concurrency check alone, against the account and region a first `cdk deploy`
 * would use, within `options.timeoutMs`.
 * @example const report = await runPreDeployChecks(new LambdaClient({ region: 'eu-west-1' }), { timeoutMs: 10_000 });
 */
export async function runPreDeployChecks(
  lambda: LambdaClient,
  options: { timeoutMs: number; config?: SluiceConfig | undefined; region?: string | undefined },
): Promise<DoctorReport> {
  const controller = new AbortController();
  const pending = new Set<string>();
  const watch: Watch = async (endpoint, call) => {
    pending.add(endpoint);
    try {
      return await call(controller.signal);
    } finally {
      pending.delete(endpoint);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => {
      controller.abort();
      const which = pending.size === 0 ? 'the Lambda API' : [...pending].join(', ');
      resolve(
        problems([
          {
            problem: `timed out after ${options.timeoutMs / 1000} s waiting for ${which}`,
            fix: `check that ${which} can be reached from here (network, proxy, VPC endpoint), or allow more time with --timeout`,
          },
        ]),
      );
    }, options.timeoutMs);
  });
  const failed = (error: unknown): Finding =>
    isAccessDenied(error)
      ? {
          problem: `the operator's credentials may not call lambda:GetAccountSettings: ${errorText(error)}`,
          fix: 'grant lambda:GetAccountSettings to the IAM identity sluice runs as (docs/cli.md lists what the commands need)',
        }
      : {
          problem: `lambda:GetAccountSettings failed: ${errorText(error)}`,
          fix: 'check the credentials and the region (--region)',
        };
  try {
    const outcome = await Promise.race([
      concurrencyOutcome(lambda, options.config, [], options.region, watch, failed),
      timedOut,
    ]);
    const check = named('concurrency', outcome);
    return { healthy: check.status !== 'problem', checks: [check] };
  } finally {
    clearTimeout(timer);
  }
}

function named(name: DoctorCheckName, outcome: Outcome): DoctorCheck {
  const notes = outcome.notes !== undefined && outcome.notes.length > 0 ? { notes: outcome.notes } : {};
  if (outcome.status !== 'problem') return { name, status: outcome.status, detail: outcome.detail, ...notes };
  return {
    name,
    status: 'problem',
    detail: outcome.problems.map((finding) => finding.problem).join('; '),
    fix: [...new Set(outcome.problems.map((finding) => finding.fix))].join('; '),
    problems: outcome.problems,
    ...notes,
  };
}

function dlqFinding(lane: LaneName, dlq: QueueRef, held: number): Finding {
  return {
    problem: `the ${dlq.label} holds ${held} message${held === 1 ? '' : 's'}: items dead-lettered ${lane === 'published' ? 'after publication' : `in the ${lane} stage`}`,
    fix:
      `find and fix the cause (docs/runbook.md#dlq-has-messages; 'sluice redrive --stage ${lane} --dry-run' lists them), ` +
      `then: sluice redrive --stage ${lane}`,
  };
}

/** `intake queue`, `intake DLQ`. */
function queueName(queue: QueueRef): string {
  return queue.label.endsWith('DLQ') ? queue.label : `${queue.label} queue`;
}

function parseRedrivePolicy(text: string | undefined): { deadLetterTargetArn: string } | undefined {
  const parsed = z.object({ deadLetterTargetArn: z.string() }).safeParse(parseJson(text));
  return parsed.success ? parsed.data : undefined;
}

function parseJson(text: string | undefined): unknown {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function capitalized(value: string): string {
  return `${value.charAt(0).toUpperCase()}${value.slice(1)}`;
}

/** An error and its causes, outermost first. */
function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && !chain.includes(current)) {
    chain.push(current);
    current = current.cause;
  }
  return chain;
}

function errorNamed(error: unknown, name: string): boolean {
  return error instanceof Error && (error.name === name || (error as { code?: unknown }).code === name);
}

function isMissingQueue(error: unknown): boolean {
  return error instanceof Error && /QueueDoesNotExist|NonExistentQueue/.test(`${error.name} ${error.message}`);
}

function isAccessDenied(error: unknown): boolean {
  return (
    error instanceof Error &&
    /AccessDenied|UnauthorizedOperation|AuthorizationError|not authorized to perform/i.test(
      `${error.name} ${error.message}`,
    )
  );
}

/** The action an access denial names (`... is not authorized to perform: lambda:GetFunctionConcurrency ...`). */
function deniedAction(error: unknown): string | undefined {
  return isAccessDenied(error) ? /perform: ([\w-]+:\w+)/.exec(errorText(error))?.[1] : undefined;
}

function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    (typeof code === 'string' && /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ETIMEDOUT/.test(code)) ||
    (error instanceof Error && /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up/.test(error.message))
  );
}

interface DoctorCommandOptions {
  timeoutMs: number;
  json: boolean;
  preDeploy: boolean;
  target: TargetRequest;
}

function parseDoctorArgs(args: string[]): DoctorCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      timeout: { type: 'string', default: String(DEFAULT_CHECK_TIMEOUT_MS / 1000) },
      'pre-deploy': { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  const preDeploy = values['pre-deploy'];
  if (preDeploy && (values.outputs !== undefined || values.stack !== undefined)) {
    throw new UsageError('--pre-deploy checks the account before the stack exists: it takes no --outputs or --stack');
  }
  return {
    timeoutMs: Math.round(parsePositiveNumber('--timeout', values.timeout, 300) * 1000),
    json: values.json,
    preDeploy,
    // The intake queue may be the very thing that is missing: the report says so rather than refusing to start.
    target: { outputs: values.outputs, stack: values.stack, region: values.region, reachOnly: true },
  };
}

/**
 * `sluice doctor`: returns the process exit code, 0 when healthy.
 * @example process.exitCode = await runDoctor(['--stack', 'Sluice', '--json']);
 */
export async function runDoctor(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseDoctorArgs(args);
  if (options !== 'help' && options.preDeploy) {
    const region = options.target.region;
    const lambda = new LambdaClient(region === undefined ? {} : { region });
    try {
      const report = await runPreDeployChecks(lambda, { timeoutMs: options.timeoutMs, region });
      printDoctorReport(
        report,
        `account in ${region ?? (await lambda.config.region())}, before deploying`,
        options,
        io,
      );
      return report.healthy ? EXIT.ok : EXIT.failure;
    } finally {
      lambda.destroy();
    }
  }
  return runOperatorCommand(
    'doctor',
    DOCTOR_HELP,
    options,
    async (target, options) => {
      const report = await runDoctorChecks(target, { timeoutMs: options.timeoutMs });
      printDoctorReport(report, target.description, options, io);
      return report.healthy ? EXIT.ok : EXIT.failure;
    },
    io,
  );
}

function printDoctorReport(report: DoctorReport, target: string, options: { json: boolean }, io: CommandIo): void {
  if (options.json) {
    printJson(report, io);
    return;
  }
  const terminal = (io.out as { isTTY?: boolean }).isTTY === true;
  writeLines(io.out, renderDoctorReport(report, target, terminal));
}

const MARKS: Record<CheckStatus, { terminal: string; plain: string }> = {
  ok: { terminal: '✓', plain: 'ok' },
  problem: { terminal: '✗', plain: 'PROBLEM' },
  skipped: { terminal: '–', plain: 'skipped' },
};

/**
 * The report as text: one line per check (✓ / ✗ / – on a terminal, the words ok / PROBLEM / skipped elsewhere),
 * each problem and its fix under a failed check, and a summary line.
 * @example io.out.write(`${renderDoctorReport(report, target.description, false).join('\n')}\n`);
 */
export function renderDoctorReport(report: DoctorReport, target: string, terminal: boolean): string[] {
  const width = Math.max(...DOCTOR_CHECKS.map((name) => name.length)) + 2;
  const markWidth = terminal ? 1 : Math.max(...Object.values(MARKS).map((mark) => mark.plain.length));
  const lines = [`sluice doctor: ${target}`, ''];
  for (const check of report.checks) {
    const mark = (terminal ? MARKS[check.status].terminal : MARKS[check.status].plain).padEnd(markWidth);
    const summary =
      check.status === 'problem'
        ? `${check.problems?.length ?? 1} problem${(check.problems?.length ?? 1) === 1 ? '' : 's'}`
        : check.status === 'skipped' && terminal
          ? `skipped: ${check.detail}`
          : check.detail;
    lines.push(`${mark} ${check.name.padEnd(width)}${summary}`);
    const indent = ' '.repeat(markWidth + 3);
    for (const finding of check.problems ?? []) {
      lines.push(`${indent}problem: ${finding.problem}`, `${indent}fix: ${finding.fix}`);
    }
    for (const note of check.notes ?? []) lines.push(`${indent}${note}`);
  }
  const count = (status: CheckStatus) => report.checks.filter((check) => check.status === status).length;
  const found = report.checks.reduce((sum, check) => sum + (check.problems?.length ?? 0), 0);
  lines.push(
    '',
    report.healthy
      ? `healthy: ${count('ok')} checks ok, ${count('skipped')} skipped`
      : `${found} problem${found === 1 ? '' : 's'} in ${count('problem')} of ${report.checks.length} checks (${count('ok')} ok, ${count('skipped')} skipped)`,
  );
  return lines;
}
