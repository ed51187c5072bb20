import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { errorText, type Target } from '#ops/target.ts';
import { SecretUnavailableError } from '#shared/errors.ts';
import { apiKeyFromSecret } from '#shared/stage-runtime.ts';
import type { Finding } from './check.ts';
import { causes, errorNamed, isUnreachable } from './errors.ts';
import { deniedFinding, endpointOf, failedFinding, redeployFix } from './findings.ts';

/** The LLM API key, read once per report for the secret and provider checks; its value is never printed. */

/** The API key from the secret, or why it could not be read (as the secret check reports it). */
export type SecretRead = { key: string; arn: string } | { unreadable: string; findings: Finding[] };

/**
 * The API key the outputs' secret holds, read the way the stages read it, or the findings that say why not.
 * @example const secret = await readApiKeySecret(target); if ('key' in secret) probe(secret.key);
 */
export async function readApiKeySecret(target: Target): Promise<SecretRead> {
  const arn = target.outputs.ApiKeySecretArn;
  if (!arn) return { unreadable: 'the outputs name no ApiKeySecretArn', findings: [] };
  const client = target.secrets;
  if (client === undefined) {
    const finding = {
      problem: 'the outputs file names no LocalSecretsManagerEndpoint, where the API key secret is served',
      fix: "restart 'sluice dev': it serves the secret and writes the endpoint to the outputs file",
    };
    return { unreadable: finding.problem, findings: [finding] };
  }
  try {
    // The stages' own read path: the same parsing of plain-text and {"apiKey": ...} secrets.
    const key = await apiKeyFromSecret(arn, new SecretsProvider({ awsSdkV3Client: client }));
    if (key === '') throw new SecretUnavailableError(arn, 'empty', `secret ${arn} holds an empty key`);
    return { key, arn };
  } catch (error) {
    const finding = secretFinding(target, error, arn);
    return { unreadable: finding.problem, findings: [finding] };
  }
}

/**
 * Why the secret could not be read, with the `aws secretsmanager` command that puts it right.
 * @example secretFinding(target, error, arn).fix; // "restore it: aws secretsmanager restore-secret ..."
 */
function secretFinding(target: Target, error: unknown, arn: string): Finding {
  const local = target.kind === 'local';
  const endpoint = endpointOf(target, 'secretsmanager');
  const cli = local ? `aws --endpoint-url ${endpoint} secretsmanager` : 'aws secretsmanager';
  const put = `${cli} put-secret-value --secret-id ${arn} --secret-string 'KEY'`;
  const text = causes(error).map(errorText).join(': ');
  if (causes(error).some((cause) => /marked for deletion/.test(cause.message))) {
    return {
      problem: `the API key secret ${arn} is scheduled for deletion`,
      fix: `restore it: ${cli} restore-secret --secret-id ${arn}`,
    };
  }
  if (causes(error).some((cause) => /can't find the specified secret value/.test(cause.message))) {
    return { problem: `the API key secret ${arn} has no value`, fix: `put the LLM API key in it: ${put}` };
  }
  if (causes(error).some((cause) => errorNamed(cause, 'ResourceNotFoundException'))) {
    return {
      problem: `the API key secret ${arn} does not exist`,
      fix: local
        ? "restart 'sluice dev': it creates the secret with the key at start"
        : `${redeployFix(target)} (or set apiKeySecretArn to an existing secret), then put the key in it: ${put}`,
    };
  }
  if (causes(error).some((cause) => cause instanceof SecretUnavailableError && cause.reason === 'empty')) {
    return { problem: `the API key secret ${arn} holds no key`, fix: `put the LLM API key in it: ${put}` };
  }
  const denied = causes(error)
    .map((cause) => deniedFinding(cause, 'secretsmanager:GetSecretValue', arn))
    .find((finding) => finding !== undefined);
  if (denied !== undefined) return denied;
  const root = causes(error).at(-1);
  return root !== undefined && isUnreachable(root)
    ? failedFinding(target, root, 'secretsmanager:GetSecretValue', arn, endpoint)
    : {
        problem: `cannot read the API key secret ${arn}: ${text}`,
        fix: `check the secret; put the key with: ${put}`,
      };
}
