import { type FunctionConfiguration, GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { stageOutputKeys } from '#lib/outputs.ts';
import type { Target } from '#ops/target.ts';
import { stageOf } from '#shared/pipeline.ts';
import type { Stage } from '#shared/runtime-config.ts';
import type { Finding } from './check.ts';
import { errorNamed } from './errors.ts';
import { endpointOf, failedFinding, redeployFix } from './findings.ts';

/** The stage functions' configurations, read once per report for the permissions and provider checks. */

/** A stage function's configuration, as GetFunctionConfiguration answers it, or why it could not be read. */
export interface StageFunction {
  stage: Stage;
  functionName: string | undefined;
  configuration?: FunctionConfiguration;
  error?: unknown;
}

/**
 * Each stage function's configuration, from the function names in the outputs; a failed read is kept, not thrown.
 * @example const functions = await readStageFunctions(target, controller.signal);
 */
export function readStageFunctions(target: Target, abortSignal: AbortSignal): Promise<StageFunction[]> {
  return Promise.all(
    target.pipeline.stages.map(async ({ name: stage, constructId }): Promise<StageFunction> => {
      const functionName = target.outputs[stageOutputKeys(constructId).functionName] || undefined;
      const lambda = target.lambda;
      if (functionName === undefined || lambda === undefined) return { stage, functionName };
      try {
        const configuration = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }), {
          abortSignal,
        });
        return { stage, functionName, configuration };
      } catch (error) {
        return { stage, functionName, error };
      }
    }),
  );
}

/**
 * Findings for stage functions whose configuration could not be read.
 * @example const unread = functionFindings(target, await context.stageFunctions());
 */
export function functionFindings(target: Target, functions: readonly StageFunction[]): Finding[] {
  return functions.flatMap(({ stage, functionName, error }): Finding[] => {
    if (functionName === undefined) {
      const key = stageOutputKeys(stageOf(target.pipeline, stage).constructId).functionName;
      return [{ problem: `the outputs name no ${key}`, fix: redeployFix(target) }];
    }
    if (target.lambda === undefined) {
      return [
        {
          problem: 'the outputs name no LocalLambdaEndpoint, which serves the functions',
          fix: "restart 'sluice dev'",
        },
      ];
    }
    if (error === undefined) return [];
    if (errorNamed(error, 'ResourceNotFoundException')) {
      return [{ problem: `the ${stage} function ${functionName} does not exist`, fix: redeployFix(target) }];
    }
    return [
      failedFinding(
        target,
        error,
        'lambda:GetFunctionConfiguration',
        `function ${functionName}`,
        endpointOf(target, 'lambda'),
      ),
    ];
  });
}
