import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { z } from 'zod';
import { loadConfig } from './config.ts';
import { PROJECT_ROOT, SluiceStack, STACK_NAME } from './sluice-stack.ts';

export { STACK_NAME };

/** Context key that lists the stacks whose assets are bundled; empty skips bundling (no esbuild, no layer copy). */
const BUNDLING_STACKS = 'aws:cdk:bundling-stacks';

const cdkJsonSchema = z.object({ context: z.record(z.string(), z.unknown()).optional() });

/**
 * The context of `cdk.json` (feature flags and the `sluice` config), so an in-process synth matches `cdk synth`.
 * @example
 * const sluice = cdkJsonContext().sluice;
 */
export function cdkJsonContext(): Record<string, unknown> {
  const file = join(PROJECT_ROOT, 'cdk.json');
  return cdkJsonSchema.parse(JSON.parse(readFileSync(file, 'utf8'))).context ?? {};
}

/**
 * Synthesizes the sluice stack in process, with asset bundling skipped, and returns its CloudFormation template.
 * The local runtime derives its queues, tables, functions, environment and event sources from it.
 *
 * @param context overrides of the `cdk.json` context, key by key (a `sluice` entry replaces the whole config).
 * @throws {ConfigError} if the `sluice` config is invalid.
 * @example
 * const template = synthesizeTemplate({ sluice: { stages: { extract: { batchSize: 2 } } } });
 * const resources = template.Resources as Record<string, { Type: string }>;
 */
export function synthesizeTemplate(context: Record<string, unknown> = {}): Record<string, unknown> {
  const outdir = mkdtempSync(join(tmpdir(), 'sluice-synth-'));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), ...context, [BUNDLING_STACKS]: [] } });
    new SluiceStack(app, STACK_NAME, { config: loadConfig(app.node.tryGetContext('sluice')) });
    const template: unknown = app.synth().getStackByName(STACK_NAME).template;
    return z.record(z.string(), z.unknown()).parse(template);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
