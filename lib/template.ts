import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import * as z from 'zod';
import { PIPELINE } from '#functions/pipeline.ts';
import type { Pipeline } from '#shared/pipeline.ts';
import { cdkJsonContext } from './cdk-json.ts';
import { loadConfig } from './config.ts';
import { SluiceStack, STACK_NAME } from './sluice-stack.ts';

export { cdkJsonContext, STACK_NAME };

/** Context key that lists the stacks whose assets are bundled; empty skips bundling (no esbuild, no layer copy). */
const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';

/**
 * Synthesizes the sluice stack in process, with asset bundling skipped, and returns its CloudFormation template.
 * The local runtime derives its queues, tables, functions, environment and event sources from it.
 *
 * @param context overrides of the `cdk.json` context, key by key (a `sluice` entry replaces the whole config).
 * @param pipeline the stages to deploy (the one sluice ships by default).
 * @throws {ConfigError} if the `sluice` config is invalid.
 * @example
 * const template = synthesizeTemplate({ sluice: { stages: { extract: { batchSize: 2 } } } });
 * const resources = template.Resources as Record<string, { Type: string }>;
 */
export function synthesizeTemplate(
  context: Record<string, unknown> = {},
  pipeline: Pipeline = PIPELINE,
): Record<string, unknown> {
  const outdir = mkdtempSync(join(tmpdir(), 'sluice-synth-'));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), ...context, [BUNDLING_STACKS]: [] } });
    new SluiceStack(app, STACK_NAME, { config: loadConfig(app.node.tryGetContext('sluice'), pipeline), pipeline });
    const template: unknown = app.synth().getStackByName(STACK_NAME).template;
    return z.record(z.string(), z.unknown()).parse(template);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

/** What a synth with bundling left behind: the template, and where each function's code asset was built. */
export interface BundledStack {
  /** The assembly's folder (inside the project, so a bundle's `@aws-sdk/*` imports find its node_modules). */
  readonly outdir: string;
  readonly template: Record<string, unknown>;
  /** The folder holding each function's bundle (what `cdk deploy` zips and uploads), by the function's logical id. */
  readonly functionCode: Readonly<Record<string, string>>;
}

const assetManifestSchema = z.object({
  files: z.record(z.string(), z.object({ source: z.object({ path: z.string() }) })),
});
const functionResourcesSchema = z.record(
  z.string(),
  z.object({
    Type: z.string(),
    Properties: z.object({ Code: z.object({ S3Key: z.string() }).optional() }).optional(),
  }),
);

/**
 * Synthesizes the sluice stack in process WITH bundling (local esbuild, as `cdk deploy` builds the functions) into a
 * new folder under `parentDir`, and returns the template and each function's code asset folder. `parentDir` must be
 * inside the project: the bundles leave `@aws-sdk/*` to the Lambda runtime, and locally they resolve it from the
 * project's node_modules by walking up from their folder. The caller removes `outdir` when done.
 *
 * @param context overrides of the `cdk.json` context, key by key, as for {@link synthesizeTemplate}.
 * @example
 * const bundled = synthesizeBundledStack({ sluice }, join(PROJECT_ROOT, '.sluice', 'bundles'));
 * const dir = bundled.functionCode.ExtractFunction1234ABCD; // holds index.mjs and index.mjs.map
 */
export function synthesizeBundledStack(
  context: Record<string, unknown>,
  parentDir: string,
  pipeline: Pipeline = PIPELINE,
): BundledStack {
  mkdirSync(parentDir, { recursive: true });
  const outdir = mkdtempSync(join(parentDir, 'assembly-'));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), ...context } });
    new SluiceStack(app, STACK_NAME, { config: loadConfig(app.node.tryGetContext('sluice'), pipeline), pipeline });
    const assembly = app.synth();
    const template = z.record(z.string(), z.unknown()).parse(assembly.getStackByName(STACK_NAME).template);
    const manifest = assetManifestSchema.parse(
      JSON.parse(readFileSync(join(assembly.directory, `${STACK_NAME}.assets.json`), 'utf8')),
    );
    const functionCode: Record<string, string> = {};
    for (const [logicalId, resource] of Object.entries(functionResourcesSchema.parse(template.Resources ?? {}))) {
      const key = resource.Type === 'AWS::Lambda::Function' ? resource.Properties?.Code?.S3Key : undefined;
      const asset = key === undefined ? undefined : manifest.files[key.replace(/\.zip$/, '')];
      if (asset !== undefined) functionCode[logicalId] = join(assembly.directory, asset.source.path);
    }
    return { outdir, template, functionCode };
  } catch (error) {
    rmSync(outdir, { recursive: true, force: true });
    throw error;
  }
}
