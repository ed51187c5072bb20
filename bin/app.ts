import { App, Validations } from 'aws-cdk-lib';
import { ConfigError, loadConfig } from '#lib/config.ts';
import { nagPacks } from '#lib/nag.ts';
import { SluiceStack, STACK_NAME } from '#lib/sluice-stack.ts';

const app = new App();
try {
  const config = loadConfig(app.node.tryGetContext('sluice'));
  new SluiceStack(app, STACK_NAME, {
    config,
    description: 'sluice: resilient LLM pipeline on SQS, Lambda and DynamoDB',
  });
  Validations.of(app).addPlugins(...nagPacks(app));
  app.synth();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
