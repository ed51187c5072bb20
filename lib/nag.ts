import type { App } from 'aws-cdk-lib';
import { AwsSolutionsChecks, type NagPack, ServerlessChecks } from 'cdk-nag';

/**
 * The cdk-nag rule packs the stack must pass with zero unacknowledged findings: AWS Solutions and Serverless.
 * Register them with `Validations.of(app).addPlugins(...)` so synth fails on a finding, or call
 * `validateScope` on each to inspect the findings.
 * @example
 * Validations.of(app).addPlugins(...nagPacks(app));
 */
export function nagPacks(app: App): NagPack[] {
  return [new AwsSolutionsChecks(app, { verbose: true }), new ServerlessChecks(app, { verbose: true })];
}
