import { describe, expect, it } from 'vitest';
import { createLambdaContext } from '#local/lambda-context.ts';

const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:000000000000:function:ExtractFn';

describe('Function: createLambdaContext', () => {
  it('counts the remaining time down to 0 at the deadline, and never below', () => {
    // Prepare
    let now = 1_000_000;
    const context = createLambdaContext({
      functionName: 'ExtractFn',
      functionArn: FUNCTION_ARN,
      memoryMb: 512,
      deadline: now + 60_000,
      clock: () => now,
    });

    // Act
    const atStart = context.getRemainingTimeInMillis();
    now += 45_000;
    const later = context.getRemainingTimeInMillis();
    now += 15_000;
    const atDeadline = context.getRemainingTimeInMillis();
    now += 5_000;
    const afterDeadline = context.getRemainingTimeInMillis();

    // Assess
    expect([atStart, later, atDeadline, afterDeadline]).toEqual([60_000, 15_000, 0, 0]);
  });

  it('describes the invocation as Lambda does', () => {
    // Act
    const context = createLambdaContext({
      functionName: 'ExtractFn',
      functionArn: FUNCTION_ARN,
      memoryMb: 512,
      deadline: Date.parse('2026-01-31T12:00:00Z'),
      clock: () => Date.parse('2026-01-31T11:59:00Z'),
    });

    // Assess
    expect(context).toMatchObject({
      functionName: 'ExtractFn',
      functionVersion: '$LATEST',
      invokedFunctionArn: FUNCTION_ARN,
      memoryLimitInMB: '512',
      logGroupName: '/aws/lambda/ExtractFn',
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(context.awsRequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(context.logStreamName).toMatch(/^2026\/01\/31\/\[\$LATEST\][0-9a-f]{32}$/);
  });

  it('gives each invocation its own request id', () => {
    // Act
    const ids = new Set(
      Array.from(
        { length: 3 },
        () =>
          createLambdaContext({ functionName: 'F', functionArn: FUNCTION_ARN, memoryMb: 128, deadline: 0 })
            .awsRequestId,
      ),
    );

    // Assess
    expect(ids.size).toBe(3);
  });

  it('throws from the callback-era done, fail and succeed', () => {
    // Prepare
    const context = createLambdaContext({ functionName: 'F', functionArn: FUNCTION_ARN, memoryMb: 128, deadline: 0 });

    // Act & Assess
    expect(() => context.done()).toThrow('context.done() is not supported locally');
    expect(() => context.fail('no')).toThrow('context.fail() is not supported locally');
    expect(() => context.succeed('yes')).toThrow('context.succeed() is not supported locally');
  });
});
