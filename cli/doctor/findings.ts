import { LOCAL_OUTPUT_KEYS } from '#lib/outputs.ts';
import { errorText, type Target } from '#ops/target.ts';
import type { Finding } from './check.ts';
import { isAccessDenied, isUnreachable } from './errors.ts';

/** The findings and fixes several checks give: where a request went, why it failed, and how to recreate what is missing. */

export type Service = 'sqs' | 'dynamodb' | 'lambda' | 'secretsmanager' | 'monitoring' | 'cloudformation' | 'iam';

/**
 * Where a service's requests go: the local endpoint from the outputs, or AWS's regional one.
 * @example endpointOf(target, 'sqs'); // 'https://sqs.eu-west-1.amazonaws.com'
 */
export function endpointOf(target: Target, service: Service): string {
  const outputs = target.outputs;
  if (target.kind === 'local') {
    const key = {
      sqs: LOCAL_OUTPUT_KEYS.sqsEndpoint,
      dynamodb: LOCAL_OUTPUT_KEYS.dynamoDbEndpoint,
      lambda: LOCAL_OUTPUT_KEYS.lambdaEndpoint,
      secretsmanager: LOCAL_OUTPUT_KEYS.secretsManagerEndpoint,
      monitoring: undefined,
      cloudformation: undefined,
      iam: undefined,
    }[service];
    return (key && outputs[key]) ?? `the local ${service} endpoint`;
  }
  const region = target.region;
  // IAM is a global service with one endpoint.
  if (service === 'iam') return 'https://iam.amazonaws.com';
  return region === undefined ? `${service} in the SDK's default region` : `https://${service}.${region}.amazonaws.com`;
}

/**
 * The fix for anything the stack lacks: restart the local runtime, or deploy again.
 * @example found.push({ problem: `the state table ${name} does not exist`, fix: redeployFix(target) });
 */
export function redeployFix(target: Target): string {
  if (target.kind === 'local')
    return "restart 'sluice dev': it creates the resources the stack defines and rewrites the outputs file";
  const file = /^outputs file (.+)$/.exec(target.source)?.[1];
  return file === undefined
    ? 'deploy the stack again: npx cdk deploy'
    : `deploy the stack again and rewrite the outputs file: npx cdk deploy --outputs-file ${file}`;
}

/**
 * A finding when `error` is an access denial: which permission the operator's credentials lack.
 * @example const denied = deniedFinding(error, 'secretsmanager:GetSecretValue', arn);
 */
export function deniedFinding(error: unknown, action: string, resource: string): Finding | undefined {
  if (!isAccessDenied(error)) return undefined;
  const who = /User: (\S+) is not authorized/.exec(errorText(error))?.[1];
  return {
    problem: `the operator's credentials${who === undefined ? '' : ` (${who})`} may not call ${action} on ${resource}`,
    fix: `grant ${action} on ${resource} to ${who ?? 'the IAM identity sluice runs as'} (docs/cli.md lists what the commands need)`,
  };
}

/**
 * A finding for a request that failed: an access denial, an unreachable endpoint, or the error as it is.
 * @example found.push(failedFinding(target, error, 'dynamodb:DescribeTable', `table ${name}`, endpoint));
 */
export function failedFinding(
  target: Target,
  error: unknown,
  action: string,
  resource: string,
  endpoint: string,
): Finding {
  const denied = deniedFinding(error, action, resource);
  if (denied !== undefined) return denied;
  const local = target.kind === 'local';
  if (isUnreachable(error)) {
    return {
      problem: `cannot reach ${endpoint} for ${action}: ${errorText(error)}`,
      fix: local
        ? "start 'sluice dev' (or restart it: the outputs file names the endpoints of its last start)"
        : `check the network path to ${endpoint} and the region`,
    };
  }
  return {
    problem: `${action} on ${resource} failed: ${errorText(error)}`,
    fix: local ? "restart 'sluice dev'" : `check ${resource} in the AWS console and the stack's events`,
  };
}
