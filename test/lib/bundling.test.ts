import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { afterAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { loadConfig, type SluiceConfigInput } from '#lib/config.ts';
import { SluiceStack, STACK_NAME } from '#lib/sluice-stack.ts';
import { cdkJsonContext } from '#lib/template.ts';

const assetManifestSchema = z.object({
  files: z.record(z.string(), z.object({ source: z.object({ path: z.string() }) })),
});

const outdirs: string[] = [];
afterAll(() => {
  for (const outdir of outdirs) rmSync(outdir, { recursive: true, force: true });
});

/** Synthesizes with real bundling (local esbuild, no Docker) and returns a lookup of the asset folder of a construct. */
function synthesizeWithBundling(sluice: SluiceConfigInput) {
  const outdir = mkdtempSync(join(tmpdir(), 'sluice-bundling-'));
  outdirs.push(outdir);
  const app = new App({ outdir, context: cdkJsonContext() });
  const stack = new SluiceStack(app, STACK_NAME, { config: loadConfig(sluice) });
  const assembly = app.synth();
  const manifest = assetManifestSchema.parse(
    JSON.parse(readFileSync(join(assembly.directory, `${STACK_NAME}.assets.json`), 'utf8')),
  );
  const resources = z
    .record(
      z.string(),
      z.object({
        Properties: z
          .object({
            Code: z.object({ S3Key: z.string() }).optional(),
            Content: z.object({ S3Key: z.string() }).optional(),
          })
          .optional(),
      }),
    )
    .parse(assembly.getStackByName(STACK_NAME).template.Resources);
  const assetDir = (construct: IConstruct | undefined): string => {
    const element = construct?.node.defaultChild as CfnElement | undefined;
    if (element === undefined) throw new Error('no resource to look up');
    const logicalId = stack.getLogicalId(element);
    const properties = resources[logicalId]?.Properties;
    const key = (properties?.Code ?? properties?.Content)?.S3Key ?? '';
    const file = manifest.files[key.replace(/\.zip$/, '')];
    if (file === undefined) throw new Error(`no asset for ${logicalId}`);
    return join(assembly.directory, file.source.path);
  };
  return { stack, assetDir };
}

describe('Bundling: the stage functions, the supervisor and the dependency layer, built without Docker', () => {
  it('bundles each function into one minified ES module with its source map', () => {
    // Act
    const { stack, assetDir } = synthesizeWithBundling({});

    // Assess
    expect(stack.supervisor).toBeDefined();
    for (const fn of [stack.stage('extract').function, stack.stage('draft').function, stack.supervisor?.function]) {
      const dir = assetDir(fn);
      const bundle = readFileSync(join(dir, 'index.mjs'), 'utf8');
      expect(bundle.startsWith('import { createRequire')).toBe(true);
      expect(bundle.length / bundle.split('\n').length).toBeGreaterThan(1000);
      expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
      // The runtime provides the AWS SDK; everything else is inside.
      expect(bundle).toMatch(/from\s*"@aws-sdk\/client-sqs"/);
      expect(bundle).not.toMatch(/from\s*"(openai|zod|@middy\/core)"/);
    }
  });

  it('ships the shared dependencies in the layer and leaves them out of the bundles when the layer is on', () => {
    // Act
    const { stack, assetDir } = synthesizeWithBundling({ useDependencyLayer: true });

    // Assess
    const layer = stack.dependencyLayer;
    expect(layer).toBeDefined();
    const layerDir = assetDir(layer);
    for (const name of ['openai', 'zod', '@middy/core', '@aws-lambda-powertools/logger']) {
      expect(statSync(join(layerDir, 'nodejs', 'node_modules', name, 'package.json')).isFile()).toBe(true);
    }
    const bundle = readFileSync(join(assetDir(stack.stage('extract').function), 'index.mjs'), 'utf8');
    expect(bundle).toMatch(/from\s*"openai"/);
    expect(bundle).toMatch(/from\s*"@middy\/core"/);
    const supervisorBundle = readFileSync(join(assetDir(stack.supervisor?.function), 'index.mjs'), 'utf8');
    expect(supervisorBundle).toMatch(/from\s*"openai"/);
  });
});
