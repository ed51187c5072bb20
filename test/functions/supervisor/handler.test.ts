import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { createSupervisorHandler, looksPerInvocation } from '#functions/supervisor/handler.ts';
import type { LookReport, Supervisor } from '#functions/supervisor/supervisor.ts';
import { loadConfig } from '#lib/config.ts';
import { supervisorConfigFor } from '#lib/runtime-configs.ts';
import { createLambdaContext } from '#local/lambda-context.ts';

/** A supervisor whose looks answer from a script, counting them. */
function scripted(errorsOfLook: readonly string[][]) {
  let looks = 0;
  const supervisor = {
    look: async (): Promise<LookReport> => {
      const errors = errorsOfLook[looks] ?? [];
      looks += 1;
      return { at: new Date(0).toISOString(), stages: [], reenriched: 0, errors };
    },
  } as unknown as Supervisor;
  return { supervisor, looks: () => looks };
}

const event = { source: 'aws.events', 'detail-type': 'Scheduled Event' } as unknown as ScheduledEvent;

function run(intervalSeconds: number, errorsOfLook: readonly string[][], timeoutSeconds = 120) {
  const { supervisor, looks } = scripted(errorsOfLook);
  const slept: number[] = [];
  let clock = 0;
  const handler = createSupervisorHandler({
    supervisor,
    config: supervisorConfigFor(loadConfig({ supervisor: { intervalSeconds } })),
    logger: new Logger({ serviceName: 'sluice', logLevel: 'SILENT' }),
    sleep: async (ms) => {
      slept.push(ms);
      clock += ms;
    },
  });
  const context: Context = createLambdaContext({
    functionName: 'Supervisor',
    functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:Supervisor',
    memoryMb: 256,
    deadline: timeoutSeconds * 1000,
    clock: () => clock,
  });
  return { result: handler(event, context), looks, slept };
}

describe('Supervisor handler', () => {
  it.each([
    [60, 1],
    [300, 1],
    [15, 4],
    [20, 3],
    [45, 1],
  ])('takes the looks of an interval of %i s within each scheduled minute: %i', (intervalSeconds, looks) => {
    expect(looksPerInvocation(intervalSeconds * 1000)).toBe(looks);
  });

  it('looks every interval within the minute, and stops when the invocation has no time for another', async () => {
    // Act: 15 s looks in an invocation with 120 s, then one with 40 s
    const long = run(15, []);
    await long.result;
    const short = run(15, [], 40);
    await short.result;

    // Assess
    expect(long.looks()).toBe(4);
    expect(long.slept).toEqual([15_000, 15_000, 15_000]);
    expect(short.looks()).toBe(2);
  });

  it('fails the invocation, after all its looks, when a look met a problem, naming it', async () => {
    // Act
    const { result, looks } = run(30, [[], ['extract: AccessDeniedException: not authorized']]);

    // Assess
    await expect(result).rejects.toThrow(/1 problem\(s\) in 2 look\(s\): extract: AccessDeniedException/);
    expect(looks()).toBe(2);
  });
});
