import { join } from 'node:path';
import { type Duration, Validations } from 'aws-cdk-lib';
import { Policy, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture, type CfnFunction, type ILayerVersion, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import type { ILogGroup } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { METRICS_NAMESPACE, SERVICE_NAME } from '#shared/metric-catalogue.ts';

/** Lets ESM output load the CommonJS dependencies esbuild bundles (they call `require`). */
const CREATE_REQUIRE_BANNER =
  "import { createRequire as __sluiceCreateRequire } from 'node:module'; const require = __sluiceCreateRequire(import.meta.url);";

/** The Lambda Node.js runtime provides the AWS SDK v3. */
const RUNTIME_PROVIDED_MODULES = ['@aws-sdk/*'];

/** The dependency layer as a function sees it: the layer, and the packages the bundle then leaves out. */
export interface FunctionDependencyLayer {
  readonly layer: ILayerVersion;
  readonly packages: readonly string[];
}

/** Properties of {@link SluiceFunction}. */
export interface SluiceFunctionProps {
  /** What the function is, shown in the console, e.g. `sluice extract stage`. */
  readonly description: string;
  /** Absolute path of the handler module (exports `handler`). */
  readonly entry: string;
  /** Folder holding package.json and package-lock.json. */
  readonly projectRoot: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  /** Where the function logs; its retention is the caller's. */
  readonly logGroup: ILogGroup;
  /** Powertools log level. */
  readonly logLevel: string;
  /** The function's own variables; the Powertools and Node.js ones every sluice function gets are added. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Reserved concurrency.
   * @default none: the function draws on the account's unreserved concurrency
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Layer providing shared third-party modules, which the bundle then leaves out.
   * @default none: every dependency is bundled
   */
  readonly dependencyLayer?: FunctionDependencyLayer;
}

/**
 * The variables every sluice function gets beside its own: the Powertools service, metrics namespace and log level,
 * and source-mapped stack traces.
 * @example
 * const environment = { ...commonFunctionEnvironment('INFO'), STATE_TABLE_NAME: table.tableName };
 */
function commonFunctionEnvironment(logLevel: string): Record<string, string> {
  return {
    POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
    POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    POWERTOOLS_LOG_LEVEL: logLevel,
    NODE_OPTIONS: '--enable-source-maps',
  };
}

/**
 * A sluice Lambda function: Node.js 24 on arm64, X-Ray active tracing, bundled locally by esbuild (no Docker) into
 * one minified ES module with a `require` shim for the CommonJS dependencies, the AWS SDK left to the runtime and
 * the dependency layer's packages left to the layer. Every function of the stack is built this way, so they cannot
 * drift apart; the cdk-nag findings every such function raises are acknowledged here, with their reasons.
 * @example
 * const logGroup = new LogGroup(this, 'LogGroup', { retention: RetentionDays.ONE_MONTH });
 * const fn = new SluiceFunction(this, 'Function', {
 *   description: 'sluice extract stage', entry, projectRoot, memorySize: 512, timeout: Duration.seconds(120),
 *   logGroup, logLevel: 'INFO', environment: { STATE_TABLE_NAME: table.tableName },
 * });
 */
export class SluiceFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: SluiceFunctionProps) {
    const layer = props.dependencyLayer;
    super(scope, id, {
      description: props.description,
      entry: props.entry,
      handler: 'handler',
      projectRoot: props.projectRoot,
      depsLockFilePath: join(props.projectRoot, 'package-lock.json'),
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      logGroup: props.logGroup,
      environment: { ...props.environment, ...commonFunctionEnvironment(props.logLevel) },
      ...(props.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: props.reservedConcurrentExecutions }),
      ...(layer === undefined ? {} : { layers: [layer.layer] }),
      bundling: {
        format: OutputFormat.ESM,
        target: 'node24',
        mainFields: ['module', 'main'],
        banner: CREATE_REQUIRE_BANNER,
        externalModules: [...RUNTIME_PROVIDED_MODULES, ...(layer?.packages ?? [])],
        // No keepNames: the minifier renames classes, so the runtime's errors name themselves (errors.ts); keeping
        // every name would add ~55 KB to each bundle for nothing else that needs one.
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; the sources would double the bundle.
        sourcesContent: false,
        forceDockerBundling: false,
      },
    });
    this.traceActively();
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason: 'The AWS managed basic execution policy only lets the function write its own CloudWatch logs.',
    });
  }

  /**
   * X-Ray active tracing, with its grant in a policy of its own: `tracing: Tracing.ACTIVE` would add the statement
   * to the role's default policy, where acknowledging its wildcard resource would also hide any other wildcard
   * granted to the function. Here the acknowledgement covers this one statement.
   */
  private traceActively(): void {
    const resource = this.node.defaultChild as CfnFunction;
    resource.tracingConfig = { mode: Tracing.ACTIVE };
    const role = this.role;
    if (role === undefined) throw new Error(`${this.node.path} has no role to grant X-Ray tracing to`);
    const tracing = new Policy(this, 'TracingPolicy', {
      roles: [role],
      statements: [
        new PolicyStatement({ actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'], resources: ['*'] }),
      ],
    });
    // Traces from the first invocation on: the function is created once the role may write them.
    resource.node.addDependency(tracing);
    Validations.of(tracing).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'X-Ray active tracing: xray:PutTraceSegments and xray:PutTelemetryRecords support no resource-level permissions.',
    });
  }
}
