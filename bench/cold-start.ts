import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { App, type Stack } from 'aws-cdk-lib';
import { CfnFunction, CfnLayerVersion } from 'aws-cdk-lib/aws-lambda';
import { AssetManifestArtifact, type CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import * as z from 'zod';
import type { ShippedStage as Stage } from '#functions/pipeline.ts';
import { loadConfig } from '#lib/config.ts';
import { PROJECT_ROOT, SluiceStack, STACK_NAME } from '#lib/sluice-stack.ts';
import { cdkJsonContext } from '#lib/template.ts';

/** How a stage function ships its third-party dependencies (`useDependencyLayer` off or on). */
export type Packaging = 'bundled' | 'layer';

/** Sizes and import times of one stage function, packaged one way. */
export interface ColdStartVariant {
  stage: Stage;
  packaging: Packaging;
  /** The function's own asset (index.mjs and its source map), bytes on disk. */
  bundleBytes: number;
  /** 0 for `bundled`; the layer asset's `nodejs/` tree for `layer`. */
  layerBytes: number;
  /** The function's own asset, each file deflated at level 9 as in the asset zip (zip headers not counted). */
  zippedBytes?: number;
  /** Time of `await import(index.mjs)` in a fresh Node process, top-level init included. */
  importMs: { median: number; min: number; max: number; samples: number[] };
}

/** What {@link measureColdStart} measured, and how. */
export interface ColdStartResult {
  runs: number;
  variants: ColdStartVariant[];
  method: string;
}

/** Options of {@link measureColdStart}. */
export interface ColdStartOptions {
  /**
   * Measured imports per variant.
   * @default 7
   */
  runs?: number;
  /** Receives one line per step (synth, each import), for a progress display. */
  onProgress?: (line: string) => void;
}

/** The cold-start measurement could not be made; the message names the step that failed. */
export class ColdStartError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ColdStartError';
  }
}

const DEFAULT_RUNS = 7;
/** The functions' runtime is nodejs24.x; imports are timed with the same major version. */
const LAMBDA_NODE_MAJOR = 24;
/** Imports per variant run and discarded before the measured ones (OS file cache, CPU frequency ramp-up). */
const WARMUP_RUNS = 1;
/** A child that takes longer has hung (an import should take well under a second). */
const CHILD_TIMEOUT_MS = 30_000;
/** Level the CDK asset zip uses. */
const ZIP_LEVEL = 9;
const STAGES: readonly Stage[] = ['extract', 'draft'];
const PACKAGINGS: readonly Packaging[] = ['bundled', 'layer'];

/**
 * Runs in each fresh Node process. Lambda's Node.js runtimes (18 and later) search the folders of NODE_PATH when
 * an ES module imports a package that the usual node_modules lookup does not find; a resolve hook does the same
 * here, after Node's own resolution has failed. CommonJS `require` reads NODE_PATH natively.
 */
const CHILD_SCRIPT = `import { registerHooks } from 'node:module';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const searchPath = (process.env.NODE_PATH ?? '').split(delimiter).filter((dir) => dir !== '');
const isBare = (specifier) => !/^(?:[./]|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);
registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (error) {
      if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !isBare(specifier)) throw error;
      for (const dir of searchPath) {
        try {
          return nextResolve(specifier, { ...context, parentURL: pathToFileURL(join(dir, 'node-path.mjs')).href });
        } catch (retry) {
          if (retry?.code !== 'ERR_MODULE_NOT_FOUND') throw retry;
        }
      }
      throw error;
    }
  },
});

const entry = pathToFileURL(process.argv[2]).href;
const start = performance.now();
await import(entry);
const importMs = performance.now() - start;
process.stdout.write(JSON.stringify({ importMs }) + '\\n');
`;

/** The asset and environment of one stage function, as synthesized. */
interface SynthesizedFunction {
  /** The function's asset folder (holding `index.mjs`). */
  dir: string;
  /** The function's environment as the template sets it, with dummies for values resolved at deploy time. */
  environment: Record<string, string>;
  memoryMb: number | undefined;
}

/** The files of one synthesized variant that the measurement needs. */
interface SynthesizedVariant {
  functions: Record<Stage, SynthesizedFunction>;
  /** The layer asset folder (holding `nodejs/node_modules`), `layer` packaging only. */
  layerDir: string | undefined;
}

const templateSchema = z.object({
  Resources: z.record(
    z.string(),
    z.object({
      Properties: z
        .object({
          Code: z.object({ S3Key: z.string() }).optional(),
          Content: z.object({ S3Key: z.string() }).optional(),
          Environment: z.object({ Variables: z.record(z.string(), z.unknown()) }).optional(),
          MemorySize: z.number().int().positive().optional(),
        })
        .optional(),
    }),
  ),
});

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function logicalIdOf(stack: Stack, construct: IConstruct | undefined, what: string): string {
  const element = construct?.node.defaultChild;
  if (!(element instanceof CfnFunction || element instanceof CfnLayerVersion)) {
    throw new ColdStartError(`asset not found: the ${what} has no Lambda resource in the stack`);
  }
  return stack.getLogicalId(element);
}

/** A stand-in for a value CloudFormation resolves at deploy time (a queue URL, a table name, a secret ARN). */
function dummyValue(name: string): string {
  if (name.endsWith('_URL')) return `https://sqs.us-east-1.amazonaws.com/123456789012/sluice-${name.toLowerCase()}`;
  if (name.endsWith('_ARN')) return `arn:aws:secretsmanager:us-east-1:123456789012:secret:sluice-${name.toLowerCase()}`;
  return `sluice-${name.toLowerCase()}`;
}

/** Synthesizes the app as `cdk synth` does, with real bundling (esbuild runs locally, no Docker), into `outdir`. */
function synthesize(useDependencyLayer: boolean, outdir: string): { stack: SluiceStack; assembly: CloudAssembly } {
  try {
    const context = cdkJsonContext();
    const sluice = z.record(z.string(), z.unknown()).parse(context.sluice ?? {});
    const app = new App({ outdir, context: { ...context, sluice: { ...sluice, useDependencyLayer } } });
    const stack = new SluiceStack(app, STACK_NAME, { config: loadConfig(app.node.tryGetContext('sluice')) });
    return { stack, assembly: app.synth() };
  } catch (error) {
    throw new ColdStartError(`synth failed (useDependencyLayer: ${useDependencyLayer}): ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

/** Synthesizes one variant and locates each function's asset folder and environment, and the layer's folder. */
function synthesizeVariant(packaging: Packaging, outdir: string): SynthesizedVariant {
  const useDependencyLayer = packaging === 'layer';
  const { stack, assembly } = synthesize(useDependencyLayer, outdir);
  const artifact = assembly.getStackByName(STACK_NAME);
  const manifest = artifact.dependencies.find((dependency) => dependency instanceof AssetManifestArtifact);
  if (manifest === undefined) throw new ColdStartError(`asset not found: ${STACK_NAME} has no asset manifest`);
  const files = manifest.contents.files ?? {};
  const parsed = templateSchema.safeParse(artifact.template);
  if (!parsed.success) throw new ColdStartError(`unexpected template of ${STACK_NAME}: ${parsed.error.message}`);
  const resources = parsed.data.Resources;

  const assetDirOf = (logicalId: string, what: string): string => {
    const properties = resources[logicalId]?.Properties;
    const key = (properties?.Code ?? properties?.Content)?.S3Key;
    if (key === undefined) {
      throw new ColdStartError(`asset not found: ${what} (${logicalId}) has no S3Key in the template`);
    }
    const entry = Object.values(files).find((file) =>
      Object.values(file.destinations).some((destination) => destination.objectKey === key),
    );
    const dir = entry?.source.path === undefined ? undefined : join(assembly.directory, entry.source.path);
    if (dir === undefined || !existsSync(dir)) {
      throw new ColdStartError(`asset not found: ${what} (${logicalId}, ${key}) has no asset folder in ${outdir}`);
    }
    return dir;
  };
  const functionOf = (stage: Stage): SynthesizedFunction => {
    const what = `${stage} function`;
    const logicalId = logicalIdOf(stack, stack.stage(stage).function, what);
    const properties = resources[logicalId]?.Properties;
    const variables = properties?.Environment?.Variables ?? {};
    return {
      memoryMb: properties?.MemorySize,
      dir: assetDirOf(logicalId, what),
      environment: Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [name, typeof value === 'string' ? value : dummyValue(name)]),
      ),
    };
  };

  const layerDir = useDependencyLayer
    ? assetDirOf(logicalIdOf(stack, stack.dependencyLayer, 'dependency layer'), 'dependency layer')
    : undefined;
  if (layerDir !== undefined && !existsSync(join(layerDir, 'nodejs', 'node_modules'))) {
    throw new ColdStartError(`asset not found: the dependency layer asset ${layerDir} has no nodejs/node_modules`);
  }
  return { functions: { extract: functionOf('extract'), draft: functionOf('draft') }, layerDir };
}

/** Files under `dir`, recursively (symbolic links are not followed). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

function treeBytes(dir: string): number {
  return filesUnder(dir).reduce((sum, file) => sum + statSync(file).size, 0);
}

function deflatedBytes(dir: string): number {
  return filesUnder(dir).reduce(
    (sum, file) => sum + deflateRawSync(readFileSync(file), { level: ZIP_LEVEL }).byteLength,
    0,
  );
}

/**
 * Stands in for Lambda's /var/runtime/node_modules: only `@aws-sdk`, linked to the project's copy. Its packages'
 * own dependencies (`@smithy/*`) resolve from their real location, the project's node_modules.
 */
function providedSdkDir(workDir: string): string {
  const sdk = join(PROJECT_ROOT, 'node_modules', '@aws-sdk');
  if (!existsSync(sdk)) throw new ColdStartError(`@aws-sdk is not installed under ${dirname(sdk)}: run npm ci`);
  const nodeModules = join(workDir, 'runtime', 'node_modules');
  mkdirSync(nodeModules, { recursive: true });
  symlinkSync(sdk, join(nodeModules, '@aws-sdk'), 'dir');
  return nodeModules;
}

/** A node_modules folder above the assets would be searched before NODE_PATH and hide a missing package. */
function assertNoEnclosingNodeModules(dir: string): void {
  for (let current = dirname(dir); ; current = dirname(current)) {
    if (existsSync(join(current, 'node_modules'))) {
      throw new ColdStartError(`${join(current, 'node_modules')} encloses the assets and would hide Lambda's lookup`);
    }
    if (dirname(current) === current) return;
  }
}

/** The environment Lambda gives the function: the template's variables and the runtime's own. */
function lambdaEnvironment(stage: Stage, fn: SynthesizedFunction, nodePath: string[]): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    LANG: 'en_US.UTF-8',
    TZ: ':UTC',
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs24.x',
    AWS_LAMBDA_FUNCTION_NAME: `Sluice-${stage}`,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb ?? 128),
    NODE_PATH: nodePath.join(delimiter),
    ...fn.environment,
  };
}

const childOutputSchema = z.object({ importMs: z.number().nonnegative() });

function runChild(script: string, entry: string, cwd: string, env: NodeJS.ProcessEnv, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, entry], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new ColdStartError(`${what}: cannot start ${process.execPath}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lastLine = stdout.trim().split('\n').at(-1) ?? '';
      let parsed: z.ZodSafeParseResult<z.infer<typeof childOutputSchema>> | undefined;
      try {
        parsed = childOutputSchema.safeParse(JSON.parse(lastLine));
      } catch {
        parsed = undefined;
      }
      if (code === 0 && parsed?.success === true) {
        resolve(parsed.data.importMs);
        return;
      }
      const status = signal === null ? `exit code ${code}` : `signal ${signal}`;
      reject(new ColdStartError(`${what}: import failed (${status}): ${stderr.trim() || stdout.trim()}`));
    });
  });
}

function median(sorted: readonly number[]): number {
  const middle = Math.floor(sorted.length / 2);
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? Number.NaN) + upper) / 2;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}

/**
 * Builds the stage functions as the stack deploys them, bundled and with the dependency layer, and times the
 * import of each function's module (its top-level init included) in fresh Node processes.
 * @throws {ColdStartError} naming the step that failed: synth, asset lookup, or an import.
 * @example
 * const result = await measureColdStart({ runs: 7, onProgress: (line) => console.error(line) });
 * result.variants.find((v) => v.stage === 'extract' && v.packaging === 'layer')?.importMs.median;
 */
export async function measureColdStart(options: ColdStartOptions = {}): Promise<ColdStartResult> {
  const runs = options.runs ?? DEFAULT_RUNS;
  if (!Number.isInteger(runs) || runs < 1) throw new ColdStartError(`runs must be a positive integer, got ${runs}`);
  const major = Number(process.versions.node.split('.')[0]);
  if (major !== LAMBDA_NODE_MAJOR) {
    throw new ColdStartError(
      `the functions run on Node ${LAMBDA_NODE_MAJOR}; run this with it, not ${process.version}`,
    );
  }
  const progress = options.onProgress ?? (() => {});
  // Real paths: Node resolves modules by real path, and the enclosing-folder check must see the real ancestors.
  const workDir = realpathSync(mkdtempSync(join(tmpdir(), 'sluice-cold-start-')));
  try {
    const script = join(workDir, 'measure-import.mjs');
    writeFileSync(script, CHILD_SCRIPT);
    const sdkDir = providedSdkDir(workDir);

    const synthesizeTimed = (packaging: Packaging): SynthesizedVariant => {
      const started = performance.now();
      const variant = synthesizeVariant(packaging, join(workDir, `cdk.out.${packaging}`));
      progress(`synth (${packaging}): ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return variant;
    };
    const synthesized: Record<Packaging, SynthesizedVariant> = {
      bundled: synthesizeTimed('bundled'),
      layer: synthesizeTimed('layer'),
    };
    assertNoEnclosingNodeModules(workDir);

    const plans = PACKAGINGS.flatMap((packaging) =>
      STAGES.map((stage) => {
        const { functions, layerDir } = synthesized[packaging];
        const fn = functions[stage];
        const functionDir = fn.dir;
        const entry = join(functionDir, 'index.mjs');
        if (!existsSync(entry)) throw new ColdStartError(`asset not found: ${entry}`);
        const nodePath = layerDir === undefined ? [sdkDir] : [join(layerDir, 'nodejs', 'node_modules'), sdkDir];
        return {
          stage,
          packaging,
          functionDir,
          entry,
          env: lambdaEnvironment(stage, fn, nodePath),
          bundleBytes: treeBytes(functionDir),
          layerBytes: layerDir === undefined ? 0 : treeBytes(join(layerDir, 'nodejs')),
          zippedBytes: deflatedBytes(functionDir),
          samples: [] as number[],
        };
      }),
    );

    // Round-robin over the variants, so that background load and drift hit each variant alike.
    for (let run = -WARMUP_RUNS; run < runs; run++) {
      for (const plan of plans) {
        const what = `${plan.stage}/${plan.packaging}`;
        const ms = await runChild(script, plan.entry, plan.functionDir, plan.env, what);
        if (run >= 0) plan.samples.push(round(ms));
        progress(`${what} ${run < 0 ? 'warm-up' : `run ${run + 1}/${runs}`}: ${ms.toFixed(1)} ms`);
      }
    }

    const variants = plans.map((plan): ColdStartVariant => {
      const sorted = [...plan.samples].sort((a, b) => a - b);
      return {
        stage: plan.stage,
        packaging: plan.packaging,
        bundleBytes: plan.bundleBytes,
        layerBytes: plan.layerBytes,
        zippedBytes: plan.zippedBytes,
        importMs: {
          median: round(median(sorted)),
          min: sorted[0] ?? Number.NaN,
          max: sorted.at(-1) ?? Number.NaN,
          samples: plan.samples,
        },
      };
    });
    const method =
      `Assets built by an in-process synth with real esbuild bundling (useDependencyLayer off, then on); each sample ` +
      `is performance.now() around \`await import(index.mjs)\` (top-level init included) in a fresh Node ` +
      `${process.version} process with the function's template environment (dummy ARNs/URLs, NODE_OPTIONS ` +
      `included) and AWS_EXECUTION_ENV set, \`@aws-sdk/*\` from the project's copy and, for the layer, its ` +
      `nodejs/node_modules, both found through NODE_PATH as Lambda's Node.js runtime does for ES modules (a resolve ` +
      `hook). Median of ${runs} runs per variant, round-robin, after ${WARMUP_RUNS} discarded warm-up run each, ` +
      `warm OS file cache.`;
    return { runs, variants, method };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const runs = process.argv[2] === undefined ? undefined : Number(process.argv[2]);
  try {
    const result = await measureColdStart({ runs, onProgress: (line) => process.stderr.write(`${line}\n`) });
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } catch (error) {
    process.stderr.write(`cold-start measurement failed: ${errorMessage(error)}\n`);
    process.exitCode = 1;
  }
}
