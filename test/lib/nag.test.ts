import { Validations } from 'aws-cdk-lib';
import { Match } from 'aws-cdk-lib/assertions';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { describe, expect, it } from 'vitest';
import type { SluiceConfigInput } from '#lib/config.ts';
import { nagPacks } from '#lib/nag.ts';
import { buildStack, synthesizeStack } from './stack-fixture.ts';

function findings(app: Parameters<typeof nagPacks>[0]): string[] {
  return nagPacks(app).flatMap((pack) =>
    pack
      .validateScope(app)
      .violations.flatMap((violation) =>
        violation.violatingResources.map((resource) => `${violation.ruleName} at ${resource.constructPath}`),
      ),
  );
}

describe('Compliance: cdk-nag AwsSolutions and Serverless packs', () => {
  it.each<[string, SluiceConfigInput]>([
    ['the defaults', {}],
    ['the dependency layer on', { useDependencyLayer: true }],
    [
      'an existing API key secret',
      { apiKeySecretArn: 'arn:aws:secretsmanager:us-east-1:123456789012:secret:k-AbC123' },
    ],
    ['reserved concurrency off', { reservedConcurrencyEnabled: false }],
    ['the supervisor off', { supervisor: { enabled: false } }],
    ['the supervisor ticking every 30 s', { supervisor: { intervalSeconds: 30 } }],
    [
      'an alarm email, a fallback model and a runbook URL',
      {
        alarmEmail: 'ops@example.com',
        llm: { fallbackModel: 'gpt-4o-mini' },
        alarms: { runbookUrl: 'https://git.example.com/sluice/blob/main/docs/runbook.md' },
      },
    ],
  ])('finds nothing unacknowledged in the stack with %s', (_case, sluice) => {
    // Prepare
    const { app } = synthesizeStack(sluice);

    // Act
    const unacknowledged = findings(app);

    // Assess
    expect(unacknowledged).toEqual([]);
  });

  it('reports a resource that breaks a rule, so a clean result means something', () => {
    // Prepare
    const { app, stack } = buildStack();
    new Queue(stack, 'StrayQueue');

    // Act
    const unacknowledged = findings(app);

    // Assess
    expect(unacknowledged).toEqual(expect.arrayContaining(['AwsSolutions-SQS3 at Sluice/StrayQueue/Resource']));
  });

  it.each(['extract', 'draft'] as const)(
    'reports a wildcard granted to the %s function beside X-Ray tracing: only the X-Ray statement is acknowledged',
    (stage) => {
      // Prepare
      const { app, stack } = buildStack();
      stack
        .stage(stage)
        .function.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: ['*'] }));
      const capitalized = `${stage.charAt(0).toUpperCase()}${stage.slice(1)}`;

      // Act
      const unacknowledged = findings(app);

      // Assess
      expect(unacknowledged).toEqual([
        `AwsSolutions-IAM5[Resource::*] at Sluice/${capitalized}/Function/ServiceRole/DefaultPolicy/Resource`,
      ]);
    },
  );

  it('fails the synth of an app carrying the packs when a finding is not acknowledged', () => {
    // Prepare
    const { app, stack } = buildStack();
    Validations.of(app).addPlugins(...nagPacks(app));
    new Queue(stack, 'StrayQueue');

    // Act & Assess
    expect(() => app.synth()).toThrow(/AwsSolutions-SQS3/);
  });

  it('leaves no construct warning or error in the synthesized stack', () => {
    // Prepare
    const { annotations } = synthesizeStack({ useDependencyLayer: true });

    // Act
    const warnings = annotations.findWarning('*', Match.anyValue());
    const errors = annotations.findError('*', Match.anyValue());

    // Assess
    expect(warnings).toEqual([]);
    expect(errors).toEqual([]);
  });
});
